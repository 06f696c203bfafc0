"""Response models of the API: every route declares one, so OpenAPI describes what each
answers and the schemathesis run (tests/test_service_schema.py) checks it."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(Model, Generic[T]):
    """One page of a list: ``next_offset`` is null on the last page."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class ErrorBody(Model):
    ok: bool
    type: str
    error: str
    problems: list[str] | None = None


class DatasetOut(Model):
    dataset_id: str
    use: str
    recipient: str
    as_of: str
    path: str
    manifest_sha256: str
    snapshot_sha256: str
    input_records: int
    records: int
    members: int
    members_sha256: str
    shards: int | None
    shard_by: str | None
    status: str
    supersedes: str | None
    created_at: str


class DatasetMember(Model):
    member_id: str
    jurisdiction: str | None
    as_author: int
    as_participant: int
    shards: str | None


class DisclosureOut(Model):
    disclosure_id: str
    dataset_id: str
    recipient: str
    disclosed_at: str
    records: int
    members: int
    source: str


class ImpactOut(Model):
    dataset_id: str
    use: str
    recipient: str
    as_of: str
    status: str
    as_author: int
    as_participant: int
    shards: list[int] | None


class OrderOut(Model):
    order_id: str
    kind: str
    action: str
    target: str
    shard: int | None
    status: str
    overdue: bool
    members: int
    deadline: str
    opened_at: str
    closed_at: str | None
    triggers: list[Any]
    legal_basis: Any
    datasets: list[Any]
    notice_id: str | None


class NoticeOut(Model):
    notice_id: str
    recipient: str
    status: str
    issued_at: str
    deadline: str
    acknowledged_at: str | None
    records: int
    datasets: list[Any]
    sha256: str


class CheckpointOut(Model):
    number: int
    size: int
    root: str
    note: str
    created_at: str | None = None
    created: bool | None = None


class AuditStatus(Model):
    ok: bool
    entries: int
    rows: int
    head: str
    root: str
    checkpoints: int
    uncovered: int
    latest_checkpoint: CheckpointOut | None
    outside_checkpoint_size: int | None
    problem: str | None


class StatuteRow(Model):
    jurisdiction: str | None
    statute: str
    statute_name: str
    members: int
    per_member: str
    amount: str
    currency: str | None


class StatuteOut(Model):
    id: str
    name: str
    jurisdictions: list[str]
    per_member: str
    currency: str


class ScheduleOut(Model):
    source: str
    statutes: list[StatuteOut]


class ExposureOut(Model):
    members: int
    disclosures: int
    recipients: list[str]
    by_statute: list[StatuteRow]
    totals: dict[str, str]
    schedule: ScheduleOut


class RecipientOut(Model):
    recipient: str
    disclosures: int
    datasets: int
    members: int
    records: int
    first_disclosed_at: str
    last_disclosed_at: str
    uses: list[str]
    policy_versions: list[str]


class ReportOut(Model):
    """A bulk report as JSON (``?format=json``); CSV is ``text/csv`` with a header row."""

    report: str
    columns: list[str]
    rows: list[dict[str, Any]]


class ErasureOut(Model):
    created: bool
    event_id: str
    effective_at: str
    recorded_at: str


class PublishedOut(Model):
    version: str
    created: bool
    changes: list[dict[str, Any]]


class SettingOut(Model):
    setting: str
    label: str
    state: str
    default: bool
    covers_from: str | None
    event_id: str | None
    policy_version: str | None


class MemberSettingsOut(Model):
    member_id: str
    jurisdiction: str | None
    policy_version: str | None
    settings: list[SettingOut]


class StatusOut(Model):
    member_id: str
    setting: str
    jurisdiction: str | None
    state: str
    covers_from: str | None
    event_id: str | None
    policy_version: str | None


class EventOut(Model):
    event_id: str
    seq: int
    type: str
    setting: str | None
    policy_version: str | None
    effective_at: str
    recorded_at: str
    covers_from: str | None
    source: str


class RecordedOut(Model):
    created: bool
    event: EventOut


class ReceiptOut(Model):
    event_id: str
    leaf_index: int
    tree_size: int
    receipt: str


class PolicyOut(Model):
    version: str
    published_at: str
    effective_from: str
    settings: list[str]
    sha256: str


class ChangeOut(Model):
    kind: str
    subject: str
    detail: str
    material: bool


class KeyOut(Model):
    key_id: str
    role: str
    label: str
    created_at: str
    revoked_at: str | None


class NewKeyOut(KeyOut):
    key: str


class SessionOut(Model):
    csrf_token: str
    expires: int


class ClosedOut(Model):
    ok: bool


class WhoamiOut(Model):
    role: str
    member_id: str | None


class Health(Model):
    status: str
