"""The names of what ``consentgate.redact`` finds, and the fideslang category of each.

Entities are spans of personal data, named as Presidio and most PII tools name them
(``EMAIL_ADDRESS``, ``US_SSN``, ...). Labels are kinds of sensitive content a text can
carry (``health``, ``compensation``, ...). Each maps to a fideslang data category; where
fideslang has no key for a label, ``CATEGORY_EXTENSIONS`` declares one under an existing
parent so the taxonomy can register it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "CATEGORY_EXTENSIONS",
    "ENTITIES",
    "ENTITY_CATEGORIES",
    "LABELS",
    "LABEL_CATEGORIES",
    "PLACEHOLDER",
    "SPAN_PRIORITY",
    "category_of",
]

_NATIONAL_ID: Final = "user.government_id.national_identification_number"

ENTITY_CATEGORIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "EMAIL_ADDRESS": "user.contact.email",
        "PHONE_NUMBER": "user.contact.phone_number",
        "URL": "user.contact.url",
        "CREDIT_CARD": "user.financial.credit_card",
        "IBAN_CODE": "user.financial.bank_account",
        "CRYPTO": "user.financial",
        "IP_ADDRESS": "user.device.ip_address",
        "MAC_ADDRESS": "user.device.device_id",
        "US_SSN": _NATIONAL_ID,
        "US_ITIN": _NATIONAL_ID,
        "US_MBI": "user.health_and_medical.insurance_beneficiary_id",
        "UK_NINO": _NATIONAL_ID,
        "UK_NHS": "user.health_and_medical.record_id",
        "UK_DRIVING_LICENCE": "user.government_id.drivers_license_number",
        "UK_POSTCODE": "user.contact.address.postal_code",
        "CA_SIN": _NATIONAL_ID,
        "CH_AHV": _NATIONAL_ID,
        "ES_NIF": _NATIONAL_ID,
        "ES_NIE": _NATIONAL_ID,
        "IT_FISCAL_CODE": _NATIONAL_ID,
        "IN_AADHAAR": _NATIONAL_ID,
        "SG_NRIC_FIN": _NATIONAL_ID,
        "FI_PERSONAL_IDENTITY_CODE": _NATIONAL_ID,
        "SE_PERSONNUMMER": _NATIONAL_ID,
        "PL_PESEL": _NATIONAL_ID,
        "TR_NATIONAL_ID": _NATIONAL_ID,
        "ZA_ID_NUMBER": _NATIONAL_ID,
        "PERSON": "user.name",
        "LOCATION": "user.location",
        "DATE_OF_BIRTH": "user.demographic.date_of_birth",
    }
)
"""Every entity the built-in recognizers produce, with its fideslang category."""

ENTITIES: Final[tuple[str, ...]] = tuple(ENTITY_CATEGORIES)

SPAN_PRIORITY: Final[Mapping[str, int]] = {
    "CREDIT_CARD": 95, "IBAN_CODE": 95, "CRYPTO": 95, "EMAIL_ADDRESS": 90, "PERSON": 88,
    "IP_ADDRESS": 85, "MAC_ADDRESS": 85, "US_SSN": 80, "US_ITIN": 80, "UK_NINO": 80,
    "CH_AHV": 80, "ES_NIF": 78, "ES_NIE": 79, "FI_PERSONAL_IDENTITY_CODE": 78, "US_MBI": 78,
    "UK_DRIVING_LICENCE": 78, "IT_FISCAL_CODE": 78, "URL": 75, "DATE_OF_BIRTH": 70,
    "PHONE_NUMBER": 65, "ZA_ID_NUMBER": 60, "TR_NATIONAL_ID": 60, "PL_PESEL": 60,
    "SE_PERSONNUMMER": 60, "IN_AADHAAR": 58, "CA_SIN": 55, "UK_NHS": 55, "SG_NRIC_FIN": 50,
    "UK_POSTCODE": 45, "LOCATION": 40,
}  # fmt: skip
"""Entity -> priority between overlapping spans of equal length (higher wins)."""

# Order matters: when a record carries several labels whose action is ``exclude``, its
# exclusion reason names the first of them in this order (special categories first).
LABEL_CATEGORIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "health": "user.health_and_medical",
        "sexual_orientation": "user.demographic.sexual_orientation",
        "religion": "user.demographic.religious_belief",
        "political_opinion": "user.demographic.political_opinion",
        "trade_union": "user.workplace.trade_union",
        "criminal_history": "user.criminal_history",
        "credentials": "user.authorization.credentials",
        "employment_dispute": "user.workplace.employment_dispute",
        "compensation": "user.financial",
        "confidential_business": "user.content.confidential_business",
    }
)
"""Every sensitive-content label, with its fideslang category."""

LABELS: Final[tuple[str, ...]] = tuple(LABEL_CATEGORIES)

CATEGORY_EXTENSIONS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "user.workplace.employment_dispute": (
            "user.workplace",
            "Termination, layoff, harassment, grievance or litigation between a member "
            "and an employer.",
        ),
        "user.workplace.trade_union": (
            "user.workplace",
            "Trade union membership or activity (a GDPR Art. 9 special category).",
        ),
        "user.content.confidential_business": (
            "user.content",
            "Content under a confidentiality obligation: NDAs, trade secrets, "
            "unreleased products, undisclosed deals.",
        ),
    }
)
"""Data categories fideslang lacks: key -> (parent key, description)."""

PLACEHOLDER: Final = re.compile(r"<[A-Z][A-Z0-9_]*>")
"""What redaction writes in place of a span: ``<EMAIL_ADDRESS>``, ``<PERSON_2>``, ...

Text inside a placeholder is never detected again, which keeps redaction idempotent."""


def category_of(name: str) -> str:
    """The fideslang category of an entity or label name ("user" if unknown)."""
    return ENTITY_CATEGORIES.get(name) or LABEL_CATEGORIES.get(name) or "user"
