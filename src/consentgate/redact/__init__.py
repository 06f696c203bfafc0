"""Redaction and sensitive-content detection: the pure core the gate and ``scan`` use.

Arrow in, Arrow out, per batch::

    from consentgate.redact import Directory, Redactor, default_profile
    redactor = Redactor(default_profile(), Directory.from_arrow(members))
    result = redactor.apply(texts, participants)   # texts, excluded, redactions, exclusions
    redactor.scan("mail me at jane@example.com")   # ScanResult(spans=..., labels=...)
    Redactor(ner=default_ner())                    # + spaCy NER when the ner extra is installed

See docs/redaction.md for entities, labels, profiles and the measured figures.
"""

from consentgate.redact.catalog import (
    CATEGORY_EXTENSIONS,
    ENTITIES,
    ENTITY_CATEGORIES,
    LABEL_CATEGORIES,
    LABELS,
    category_of,
)
from consentgate.redact.engine import RedactionResult, Redactor, scan_lines
from consentgate.redact.ner import NerBackend, PresidioNer, SpacyNer, default_ner
from consentgate.redact.people import Directory
from consentgate.redact.profile import (
    ACTIONS,
    Profile,
    default_profile,
    load_profile,
    parse_profile,
)
from consentgate.redact.spans import LabelHit, ScanResult, Span

__all__ = [
    "ACTIONS",
    "CATEGORY_EXTENSIONS",
    "ENTITIES",
    "ENTITY_CATEGORIES",
    "LABELS",
    "LABEL_CATEGORIES",
    "Directory",
    "LabelHit",
    "NerBackend",
    "PresidioNer",
    "Profile",
    "RedactionResult",
    "Redactor",
    "ScanResult",
    "SpacyNer",
    "Span",
    "category_of",
    "default_ner",
    "default_profile",
    "load_profile",
    "parse_profile",
    "scan_lines",
]
