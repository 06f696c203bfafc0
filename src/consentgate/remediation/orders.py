"""Remediation orders: who must do what after a withdrawal, an erasure or a dropped scope. Pure.

A *trigger* is one member's withdrawal, denial (after consent or a default-on), or
erasure — or a policy version that stops declaring a scope. ``plan`` turns a trigger and
the registry's facts about the member (the datasets holding their records, with the
member's shards; the models trained on those datasets; the third parties the datasets were
disclosed to) into *requests*, one per piece of work:

=========  ===============  =====================================================
kind       action           when
=========  ===============  =====================================================
dataset    ``rebuild``      an active dataset for the trigger's scope holds the member
                            (one order per shard of a sharded dataset)
model      ``retrain_shard`` a SISA model trained on such a dataset (any version),
                            one order per shard it trained that holds the member
model      ``retrain``      a model whose unlearning tier is a full retrain
model      ``retire``       a model that can only be retired
notice     ``notify``       a third party received a dataset holding the member
=========  ===============  =====================================================

An erasure reaches every dataset; a withdrawal or denial only datasets whose (use,
recipient) its scopes cover. ``batch`` merges requests with the same key (kind, target,
shard) into one order listing every member, with the earliest deadline — many
withdrawals touching one shard give one retrain.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from consentgate.policy import PolicyVersion, Scope
from consentgate.remediation.deadlines import Deadline, DeadlineRules, deadline_for
from consentgate.taxonomy import FIRST_PARTY, covers

__all__ = [
    "ACTIONS",
    "KINDS",
    "Holding",
    "MemberEntry",
    "ModelFacts",
    "OrderKey",
    "PlannedOrder",
    "Request",
    "Trigger",
    "Who",
    "batch",
    "dropped_scopes",
    "plan",
    "request_for_recipient",
    "requests_for_model",
]

KINDS = ("dataset", "model", "notice")
ACTIONS = ("rebuild", "retrain_shard", "retrain", "retire", "notify")
TRIGGERS = ("withdraw", "deny", "erase", "policy")


@dataclass(frozen=True, slots=True)
class Trigger:
    """One reason to remediate. ``member_id`` is None for a policy change (every member).

    ``scopes``: what the request covers; empty for an erasure (everything).
    """

    kind: str
    member_id: str | None
    event_id: str | None
    scopes: tuple[Scope, ...]
    jurisdiction: str
    received_at: datetime

    def reaches(self, use: str, recipient: str) -> bool:
        """Whether a dataset built for (use, recipient) is within this trigger's reach."""
        if self.kind == "erase":
            return True
        return any(covers(sc.use, use) and sc.recipient == recipient for sc in self.scopes)


@dataclass(frozen=True, slots=True)
class Holding:
    """A registered dataset version and the member's place in it.

    ``shards``: the shards holding the member's records; None when the dataset is not
    sharded (or, for a policy trigger, when the whole dataset is concerned).
    """

    dataset_id: str
    use: str
    recipient: str
    status: str
    shards: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """An active model version and how it forgets (``trained_shards`` None: every shard)."""

    model_id: str
    unlearning: str
    trained_shards: frozenset[int] | None


OrderKey = tuple[str, str, int | None]
"""(kind, target, shard): a target is a dataset id, a model id or a recipient id."""


@dataclass(frozen=True, slots=True)
class Request:
    """One piece of work for one member (or, member None, for a whole scope)."""

    key: OrderKey
    action: str
    member_id: str | None
    event_id: str | None
    trigger: str
    deadline: Deadline
    dataset_id: str


@dataclass(frozen=True, slots=True)
class MemberEntry:
    member_id: str
    event_id: str | None
    trigger: str
    deadline: Deadline


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """Requests merged by key: the order to open, or to merge into the open one."""

    key: OrderKey
    action: str
    members: tuple[MemberEntry, ...]
    datasets: tuple[str, ...]
    deadline: datetime
    legal_basis: tuple[str, ...]
    triggers: tuple[str, ...]

    @property
    def kind(self) -> str:
        return self.key[0]

    @property
    def target(self) -> str:
        return self.key[1]

    @property
    def shard(self) -> int | None:
        return self.key[2]


@dataclass(frozen=True, slots=True)
class Who:
    """Whose request a piece of work serves (member None: every member, a policy change)."""

    member_id: str | None
    event_id: str | None
    trigger: str
    deadline: Deadline


def _request(key: OrderKey, action: str, who: Who, dataset_id: str) -> Request:
    return Request(key, action, who.member_id, who.event_id, who.trigger, who.deadline, dataset_id)


def requests_for_model(
    model: ModelFacts, shards: set[int] | None, dataset_id: str, who: Who
) -> list[Request]:
    """The work one model needs for one member: its unlearning tier decides.

    ``shards``: the shards holding the member's records (None: unknown or all).
    """
    if model.trained_shards is not None and shards is not None:
        shards = shards & model.trained_shards
        if not shards:
            return []
    if model.unlearning == "retire":
        return [_request(("model", model.model_id, None), "retire", who, dataset_id)]
    if model.unlearning == "sisa" and shards is not None:
        return [
            _request(("model", model.model_id, s), "retrain_shard", who, dataset_id)
            for s in sorted(shards)
        ]
    return [_request(("model", model.model_id, None), "retrain", who, dataset_id)]


def request_for_recipient(recipient: str, dataset_id: str, who: Who) -> Request:
    """A deletion notice to a third party that received ``dataset_id``."""
    return _request(("notice", recipient, None), "notify", who, dataset_id)


def _who(trigger: Trigger, *, third_party: bool, rules: DeadlineRules) -> Who:
    deadline = deadline_for(
        trigger.kind,
        trigger.jurisdiction,
        trigger.received_at,
        third_party=third_party,
        rules=rules,
    )
    return Who(trigger.member_id, trigger.event_id, trigger.kind, deadline)


def plan(
    trigger: Trigger,
    holdings: Sequence[Holding],
    *,
    models: Mapping[str, Sequence[ModelFacts]],
    disclosures: Mapping[str, Sequence[str]],
    rules: DeadlineRules,
) -> list[Request]:
    """Every piece of work ``trigger`` opens, given the datasets holding the member.

    ``models``: dataset id -> active models trained on it; ``disclosures``: dataset id ->
    third parties it was disclosed to. Superseded datasets get no rebuild order (a newer
    version exists) but their models and recipients still hold the data.
    """
    out: list[Request] = []
    per_model: dict[str, tuple[ModelFacts, set[int] | None, str, bool]] = {}
    for h in holdings:
        if not trigger.reaches(h.use, h.recipient):
            continue
        third_party = h.recipient != FIRST_PARTY
        who = _who(trigger, third_party=third_party, rules=rules)
        if h.status == "active":
            for shard in h.shards if h.shards is not None else (None,):
                out.append(_request(("dataset", h.dataset_id, shard), "rebuild", who, h.dataset_id))
        for model in models.get(h.dataset_id, ()):
            seen = per_model.get(model.model_id)
            shards: set[int] | None = set(h.shards) if h.shards is not None else None
            if seen is not None:
                shards = None if seen[1] is None or shards is None else seen[1] | shards
            first = seen[2] if seen else h.dataset_id
            per_model[model.model_id] = (
                model,
                shards,
                first,
                third_party or bool(seen and seen[3]),
            )
        tp_who = _who(trigger, third_party=True, rules=rules)
        out.extend(
            request_for_recipient(r, h.dataset_id, tp_who)
            for r in disclosures.get(h.dataset_id, ())
        )
    for model, shards, first, third_party in per_model.values():
        who = _who(trigger, third_party=third_party, rules=rules)
        out.extend(requests_for_model(model, shards, first, who))
    return out


def batch(requests: Iterable[Request]) -> list[PlannedOrder]:
    """Merge requests by key; members once each (their earliest deadline), in first-seen order."""
    grouped: dict[OrderKey, list[Request]] = {}
    for r in requests:
        grouped.setdefault(r.key, []).append(r)
    orders = []
    for key, items in grouped.items():
        members: dict[str | None, MemberEntry] = {}
        for r in items:
            if r.member_id is None:
                continue
            entry = MemberEntry(r.member_id, r.event_id, r.trigger, r.deadline)
            old = members.get(r.member_id)
            if old is None or r.deadline.due < old.deadline.due:
                members[r.member_id] = entry
        orders.append(
            PlannedOrder(
                key=key,
                action=items[0].action,
                members=tuple(m for m in members.values()),
                datasets=tuple(dict.fromkeys(r.dataset_id for r in items)),
                deadline=min(r.deadline.due for r in items),
                legal_basis=tuple(sorted({r.deadline.legal_basis for r in items})),
                triggers=tuple(sorted({r.trigger for r in items})),
            )
        )
    return orders


def dropped_scopes(old: PolicyVersion | None, new: PolicyVersion) -> tuple[Scope, ...]:
    """Scopes some setting of ``old`` declared that no setting of ``new`` declares.

    Consent for such a scope ends when ``new`` takes effect (a grant holds only while the
    policy in force still declares its scope), so data held for it must be removed.
    """
    if old is None:
        return ()
    seen: dict[Scope, None] = {}
    for setting in old.settings:
        for scope in setting.scopes:
            if not new.declares(scope):
                seen[scope] = None
    return tuple(seen)


def notice_members(requests: Iterable[Request]) -> set[str]:
    """The members named by notice requests (whose earlier notices must be looked up)."""
    return {r.member_id for r in requests if r.key[0] == "notice" and r.member_id is not None}


def drop_notified(
    requests: Sequence[Request], done: Collection[tuple[str, str, str]]
) -> list[Request]:
    """Drop notice requests for a member whose data in that dataset was already notified to
    that recipient (``done``: (member, recipient, dataset)): a recipient is asked once per
    record."""
    return [
        r
        for r in requests
        if not (r.key[0] == "notice" and (r.member_id, r.key[1], r.dataset_id) in done)
    ]
