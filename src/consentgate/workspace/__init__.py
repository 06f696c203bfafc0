"""The use-case layer: what the CLI (and the HTTP API) call, each use case in one transaction.

A workspace is a ledger database plus its key files and outbox. Use cases take an engine and
values, call the pure core and the store, and return values; they never print. One module
per concept of DESIGN.md:

* ``context`` — ``Workspace``: engine, signing key, outbox and deadline rules, built once
  from the settings;
* ``policies`` — set up a workspace, publish, list, show and diff policy versions;
* ``consent`` — import members and events, record an event, move a member, consent status;
* ``snapshots`` — consent snapshots for (use, recipient, as of);
* ``datasets`` — build through the gate, list, impact, exposure audit;
  ``dataset_remediation`` re-gates a dataset after withdrawals, ``disclosures`` records what was
  handed to a third party, ``proofs`` proves a member in or out of a dataset;
  ``publication`` and ``dataset_files`` are what they share about datasets on disk;
* ``models`` — register and train models; ``retraining`` retrains them after a remediation;
* ``remediation`` — remediation orders and their deadline rules; ``notices`` — deletion
  notices to recipients;
* ``reports`` — the member's access report (DSAR);
* ``log`` — the transparency log: verify, signing key, checkpoints, receipts;
  ``witnessing`` and ``log_publication`` have checkpoints cosigned and publish the log.

The names below are re-exported here lazily (importing ``consentgate.workspace`` loads no
submodule until a name is used), so ``from consentgate import workspace`` then
``workspace.consent_status(...)`` stays cheap for the CLI's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consentgate.workspace.consent import (
        ConsentStatus,
        ImportResult,
        MemberMove,
        MemberSettings,
        SettingState,
        consent_status,
        import_events,
        import_members,
        member_events_for,
        member_history,
        member_settings,
        move_member,
        record_event,
        scope_consent,
    )
    from consentgate.workspace.context import Workspace, rules_from
    from consentgate.workspace.dataset_remediation import (
        Remediated,
        fresh_snapshot,
        remediate,
    )
    from consentgate.workspace.datasets import (
        Dataset,
        DatasetHolding,
        build,
        dataset_member_ids,
        exposure,
        impact,
        list_datasets,
        make_redactor,
    )
    from consentgate.workspace.disclosures import (
        Disclosure,
        HistoricalDisclosure,
        disclose,
        list_disclosures,
    )
    from consentgate.workspace.log import (
        IssuedReceipt,
        LogVerification,
        Rotation,
        create_checkpoint,
        ensure_signing_key,
        issue_receipt,
        issue_receipt_proof,
        log_public_key,
        rotate_key,
        verify_audit,
        verify_log,
    )
    from consentgate.workspace.models import (
        UNLEARNING,
        ListedModel,
        Model,
        list_models,
        register_model,
        train_model,
    )
    from consentgate.workspace.notices import (
        Notice,
        SentNotice,
        acknowledge_notice,
        list_notices,
        send_notices,
    )
    from consentgate.workspace.policies import (
        Initialized,
        PolicySummary,
        Published,
        diff_policies,
        get_policy,
        init_workspace,
        list_policies,
        policy_history,
        publish_policy,
    )
    from consentgate.workspace.proofs import (
        IssuedProof,
        IssuedTlogProof,
        member_commitment,
        prove_member,
        prove_member_tlog,
    )
    from consentgate.workspace.remediation import (
        Order,
        list_orders,
        open_for_policy,
    )
    from consentgate.workspace.reports import (
        AccessReport,
        dsar,
    )
    from consentgate.workspace.retraining import (
        Retrained,
        retrain,
    )
    from consentgate.workspace.snapshots import (
        build_snapshot,
        build_snapshots,
        check_recipient,
    )

_MODULES: dict[str, tuple[str, ...]] = {
    "context": ("Workspace", "rules_from"),
    "policies": (
        "Initialized",
        "PolicySummary",
        "init_workspace",
        "Published",
        "publish_policy",
        "policy_history",
        "list_policies",
        "get_policy",
        "diff_policies",
    ),
    "consent": (
        "ConsentStatus",
        "MemberMove",
        "MemberSettings",
        "SettingState",
        "ImportResult",
        "import_members",
        "move_member",
        "import_events",
        "record_event",
        "member_events_for",
        "consent_status",
        "member_settings",
        "member_history",
        "scope_consent",
    ),
    "snapshots": ("check_recipient", "build_snapshot", "build_snapshots"),
    "datasets": (
        "Dataset",
        "DatasetHolding",
        "build",
        "make_redactor",
        "list_datasets",
        "dataset_member_ids",
        "impact",
        "exposure",
    ),
    "dataset_remediation": ("Remediated", "fresh_snapshot", "remediate"),
    "disclosures": ("Disclosure", "HistoricalDisclosure", "disclose", "list_disclosures"),
    "proofs": (
        "member_commitment",
        "IssuedProof",
        "prove_member",
        "IssuedTlogProof",
        "prove_member_tlog",
    ),
    "models": (
        "Model",
        "ListedModel",
        "UNLEARNING",
        "register_model",
        "list_models",
        "train_model",
    ),
    "retraining": ("Retrained", "retrain"),
    "remediation": ("Order", "list_orders", "open_for_policy"),
    "notices": ("Notice", "SentNotice", "send_notices", "list_notices", "acknowledge_notice"),
    "reports": (
        "AccessReport",
        "dsar",
    ),
    "log": (
        "ensure_signing_key",
        "log_public_key",
        "create_checkpoint",
        "LogVerification",
        "verify_log",
        "IssuedReceipt",
        "issue_receipt_proof",
        "issue_receipt",
        "Rotation",
        "rotate_key",
        "verify_audit",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "UNLEARNING",
    "AccessReport",
    "ConsentStatus",
    "Dataset",
    "DatasetHolding",
    "Disclosure",
    "HistoricalDisclosure",
    "ImportResult",
    "Initialized",
    "IssuedProof",
    "IssuedReceipt",
    "IssuedTlogProof",
    "ListedModel",
    "LogVerification",
    "MemberMove",
    "MemberSettings",
    "Model",
    "Notice",
    "Order",
    "PolicySummary",
    "Published",
    "Remediated",
    "Retrained",
    "Rotation",
    "SentNotice",
    "SettingState",
    "Workspace",
    "acknowledge_notice",
    "build",
    "build_snapshot",
    "build_snapshots",
    "check_recipient",
    "consent_status",
    "create_checkpoint",
    "dataset_member_ids",
    "diff_policies",
    "disclose",
    "dsar",
    "ensure_signing_key",
    "exposure",
    "fresh_snapshot",
    "get_policy",
    "impact",
    "import_events",
    "import_members",
    "init_workspace",
    "issue_receipt",
    "issue_receipt_proof",
    "list_datasets",
    "list_disclosures",
    "list_models",
    "list_notices",
    "list_orders",
    "list_policies",
    "log_public_key",
    "make_redactor",
    "member_commitment",
    "member_events_for",
    "member_history",
    "member_settings",
    "move_member",
    "open_for_policy",
    "policy_history",
    "prove_member",
    "prove_member_tlog",
    "publish_policy",
    "record_event",
    "register_model",
    "remediate",
    "retrain",
    "rotate_key",
    "rules_from",
    "scope_consent",
    "send_notices",
    "train_model",
    "verify_audit",
    "verify_log",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
