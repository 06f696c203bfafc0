"""Who may call which route: one declarative table, and the pure decision over it.

Each ``/api/v1`` route and each page (``page_*``, ``service.pages``) is named (its FastAPI
``name``) and has one row here mapping roles to ``ANY`` (any member's data, or a route
without a member) or ``OWN`` (only the member the caller is). A role absent from a row is refused with 403. A member asking for another
member's data gets exactly the 404 an unknown member id gets, so ids of other members cannot
be probed. ``tests/test_service_authz.py`` walks this table over every route and role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Reach(Enum):
    ANY = "any"
    OWN = "own"


ANY, OWN = Reach.ANY, Reach.OWN
READERS = {"member": ANY, "pipeline": ANY, "officer": ANY, "admin": ANY}

RULES: Mapping[str, Mapping[str, Reach]] = {
    # the member's own data: members for themselves, officers read everyone's
    "member_settings": {"member": OWN, "officer": ANY},
    "member_status": {"member": OWN, "officer": ANY},
    "member_history": {"member": OWN, "officer": ANY},
    "member_receipt": {"member": OWN, "officer": ANY},
    # consent is the member's own decision: nobody records it for them here
    "record_consent": {"member": OWN},
    # policies are what every member is asked to decide on: readable by every role
    "list_policies": READERS,
    "diff_policies": READERS,
    # datasets: the pipelines that build them and the officers who answer for them
    "list_datasets": {"pipeline": ANY, "officer": ANY},
    # API keys: administrators only
    "list_keys": {"admin": ANY},
    "create_key": {"admin": ANY},
    "revoke_key": {"admin": ANY},
    # who the caller is
    "whoami": READERS,
    # policies are published by administrators
    "publish_policy": {"admin": ANY},
    # builds: pipelines start them; pipelines and officers follow them
    "start_build": {"pipeline": ANY},
    "list_builds": {"pipeline": ANY, "officer": ANY},
    "get_build": {"pipeline": ANY, "officer": ANY},
    # what datasets hold and where they went: officers
    "dataset_members": {"officer": ANY},
    "dataset_disclosures": {"officer": ANY},
    "list_disclosures": {"officer": ANY},
    "list_recipients": {"officer": ANY},
    # where a member's data is: the member, and officers for everyone
    "member_impact": {"member": OWN, "officer": ANY},
    # remediation: officers
    "list_orders": {"officer": ANY},
    "list_notices": {"officer": ANY},
    # the audit log: officers and administrators verify and sign; its latest checkpoint
    # is what every receipt is checked against, so every role may read it
    "verify_audit": {"officer": ANY, "admin": ANY},
    "latest_checkpoint": READERS,
    "create_checkpoint": {"officer": ANY, "admin": ANY},
    # erasure: recorded for the member by the officers and administrators who receive the
    # request (a member's own choices go through record_consent)
    "erase_member": {"officer": ANY, "admin": ANY},
    # bulk reports: officers
    "report_dataset_members": {"officer": ANY},
    "report_disclosures": {"officer": ANY},
    "report_consent_events": {"officer": ANY},
    "report_exposure": {"officer": ANY},
    # the officer console's pages (service/pages/console.py)
    "page_console": {"officer": ANY},
    "page_console_policies": {"officer": ANY},
    "page_console_consent": {"officer": ANY},
    "page_console_builds": {"officer": ANY},
    "page_console_recipients": {"officer": ANY},
    "page_console_remediation": {"officer": ANY},
    "page_console_audit": {"officer": ANY},
    # pages (service.pages): the member privacy center is the session's member's own, and
    # only theirs (its paths name no member; an officer reads members through the console)
    "page_privacy_center": {"member": OWN},
    "page_record_choice": {"member": OWN},
    "page_receipt": {"member": OWN},
    "page_receipt_download": {"member": OWN},
    "page_history": {"member": OWN},
    "page_data": {"member": OWN},
    "page_dataset_proof": {"member": OWN},
    "page_dataset_proof_download": {"member": OWN},
    "page_download": {"member": OWN},
    "page_report": {"member": OWN},
    "page_verify": {"member": OWN},
    "page_log_key": {"member": OWN},
}


class Outcome(Enum):
    ALLOW = 200
    FORBIDDEN = 403
    HIDDEN = 404  # answered as "member not found", like an unknown id


@dataclass(frozen=True, slots=True)
class Caller:
    role: str
    member_id: str | None = None  # the member a member token or session speaks for


def decide(route: str, caller: Caller, member_id: str | None) -> Outcome:
    """May ``caller`` call ``route`` about ``member_id`` (None: the route names no member)?"""
    reach = RULES[route].get(caller.role)
    if reach is None:
        return Outcome.FORBIDDEN
    if reach is OWN and member_id is not None and member_id != caller.member_id:
        return Outcome.HIDDEN
    return Outcome.ALLOW
