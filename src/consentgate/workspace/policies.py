"""Use cases for policies: set up a workspace, publish a policy version, list, show and diff
versions (DESIGN.md "Policies")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from consentgate.errors import NotFound, PolicyError
from consentgate.policy import (
    Change,
    PolicyHistory,
    PolicyVersion,
    check_publication,
    parse_policy,
    validate_policy,
)
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.store import audit as store_audit
from consentgate.store import engine as store_engine
from consentgate.store import ledger
from consentgate.taxonomy import parse_taxonomy
from consentgate.timestamps import Clock, utcnow
from consentgate.workspace.remediation import open_orders_for_policy

logger = logging.getLogger(__name__)


def init_workspace(
    engine: sa.Engine,
    *,
    taxonomy: str | None = None,
    taxonomy_name: str = "taxonomy",
    key_file: Path | None = None,
    now: Clock = utcnow,
) -> Initialized:
    """Create or upgrade the ledger (idempotent), add the taxonomy keys of ``taxonomy`` (a
    YAML extension, docs/formats.md; ``taxonomy_name`` locates its errors) and, with
    ``key_file``, create the log's signing key there unless it exists.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> workspace.init_workspace(make_engine("sqlite://")).taxonomy_keys_added
    0
    """
    revision = store_engine.upgrade(engine)
    added = 0
    with engine.begin() as conn:
        store_audit.ensure_secret(conn)
        if taxonomy is not None:
            cats, uses = parse_taxonomy(taxonomy, name=taxonomy_name)
            added = ledger.add_taxonomy_keys(conn, categories=cats, uses=uses, at=now())
    if key_file is None:
        return Initialized(revision, added)
    from consentgate.workspace.log import ensure_signing_key

    return Initialized(revision, added, ensure_signing_key(engine, key_file), key_file)


@dataclass(frozen=True, slots=True)
class Initialized:
    """What ``init_workspace`` did: the schema revision, taxonomy keys added and, when it was
    given a key file, the log's verifier key and where its signing key is."""

    revision: str
    taxonomy_keys_added: int
    public_key: str | None = None
    signing_key: Path | None = None


@dataclass(frozen=True, slots=True)
class Published:
    policy: PolicyVersion
    changes: list[Change]
    created: bool


def publish_policy(
    engine: sa.Engine,
    text: str,
    *,
    name: str = "policy",
    notice_days: int,
    now: Clock = utcnow,
    rules: DeadlineRules | None = None,
) -> Published:
    """Validate the policy version ``text`` (YAML; ``name`` is how errors locate it) against
    the publication rules and publish it; publishing the same version again is a no-op
    (``created`` False).

    >>> from pathlib import Path
    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> text = Path("examples/policy-v1.yaml").read_text(encoding="utf-8")
    >>> workspace.publish_policy(engine, text, notice_days=30).created
    True
    """
    policy = parse_policy(text, name=name)
    with engine.begin() as conn:
        validate_policy(policy, ledger.load_taxonomy(conn), name=name)
        stored = ledger.stored_policy_sha(conn, policy.version)
        history = ledger.load_history(conn)
        if stored is not None:
            if stored == policy.sha256:
                previous = _previous(history, policy)
                return Published(
                    history.get(policy.version) or policy, _diff(previous, policy), False
                )
            raise PolicyError(
                "immutability",
                f"{name}: version {policy.version!r} is already published with different "
                "content; publish a new version instead",
            )
        previous = history.latest()
        changes = check_publication(policy, previous, notice_days=notice_days, name=name)
        ledger.insert_policy(conn, policy, at=now())
        # A version that drops a scope opens orders for datasets built on it (issue 5).
        open_orders_for_policy(conn, previous, policy, at=now(), rules=rules or DeadlineRules())
    logger.info("policy version published (%d changes)", len(changes))
    return Published(policy, changes, True)


def _previous(history: PolicyHistory, policy: PolicyVersion) -> PolicyVersion | None:
    before = [v for v in history.versions if v.effective_from < policy.effective_from]
    return before[-1] if before else None


def _diff(old: PolicyVersion | None, new: PolicyVersion) -> list[Change]:
    from consentgate.policy import diff

    return diff(old, new)


def policy_history(engine: sa.Engine) -> PolicyHistory:
    with engine.connect() as conn:
        return ledger.load_history(conn)


@dataclass(frozen=True, slots=True)
class PolicySummary:
    """A published policy version as ``list_policies`` lists it."""

    version: str
    published_at: datetime
    effective_from: datetime
    settings: tuple[str, ...]
    sha256: str


def list_policies(engine: sa.Engine) -> list[PolicySummary]:
    """Published policy versions, oldest first.

    >>> from pathlib import Path
    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> text = Path("examples/policy-v1.yaml").read_text(encoding="utf-8")
    >>> _ = workspace.publish_policy(engine, text, notice_days=30)
    >>> [p.version for p in workspace.list_policies(engine)]
    ['v1']
    """
    with engine.connect() as conn:
        history = ledger.load_history(conn)
        rows = ledger.policy_rows(conn)
    out = []
    for r in rows:
        v = history.get(r.version)
        out.append(
            PolicySummary(
                r.version,
                r.published_at,
                r.effective_from,
                tuple(s.id for s in v.settings) if v else (),
                r.sha256,
            )
        )
    return out


def get_policy(engine: sa.Engine, version: str) -> PolicyVersion:
    policy = policy_history(engine).get(version)
    if policy is None:
        raise NotFound("policy version", version)
    return policy


def diff_policies(engine: sa.Engine, a: str, b: str) -> list[Change]:
    history = policy_history(engine)
    old, new = history.get(a), history.get(b)
    if old is None:
        raise NotFound("policy version", a)
    if new is None:
        raise NotFound("policy version", b)
    return _diff(old, new)
