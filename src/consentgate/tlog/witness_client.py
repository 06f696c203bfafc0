"""The c2sp.org/tlog-witness client: submit a checkpoint to a policy's witnesses over HTTP
(httpx) and collect their ``cosignature/v1`` cosignatures.

Each witness with a URL in the policy (its submission prefix) gets
``POST <url>/add-checkpoint`` with ``old <size>``, the consistency proof from that size
and the signed checkpoint, all witnesses at once. A 409 answer carries the size the
witness last cosigned: the request is sent again, once, from that size (if it is larger
than the checkpoint, the witness has seen a longer history than the one being submitted —
a rollback or a fork — and the witness is counted as refusing). A 200 answer's signature
lines are kept only when they verify under the witness's key in the policy; lines by
other keys are ignored. The result says what each witness answered and whether the
cosignatures gathered meet the policy's quorum.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog.note import open_note, with_signatures
from consentgate.tlog.policy import PolicyWitness, TlogPolicy
from consentgate.tlog.witness import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    cosignature_lines,
    parse_size_hint,
)

if TYPE_CHECKING:  # httpx costs ~0.3 s to import: only a command that witnesses needs it
    import httpx

logger = logging.getLogger(__name__)
MAX_WORKERS = 16


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What one witness answered: ``cosigned`` with a valid cosignature, else why not;
    ``seen_size`` is the size it reported in a 409 answer."""

    name: str
    cosigned: bool
    detail: str
    status: int | None = None
    seen_size: int | None = None


@dataclass(frozen=True, slots=True)
class Witnessing:
    """The checkpoint with every valid cosignature added, each witness's outcome, and
    whether the policy's quorum is met."""

    note: str
    outcomes: tuple[WitnessOutcome, ...]
    quorum: bool

    @property
    def cosigners(self) -> list[str]:
        return [o.name for o in self.outcomes if o.cosigned]


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int | None
    content_type: str
    body: bytes
    error: str = ""


def _post(client: httpx.Client, url: str, body: bytes) -> _Answer:
    import httpx

    try:
        r = client.post(url.rstrip("/") + "/add-checkpoint", content=body)
    except httpx.HTTPError as exc:
        return _Answer(None, "", b"", f"{exc.__class__.__name__}: {exc}")
    return _Answer(r.status_code, r.headers.get("content-type", ""), r.content)


def _post_all(
    client: httpx.Client, policy: TlogPolicy, requests: Mapping[str, bytes]
) -> dict[str, _Answer]:
    """Send every request at once (a thread each, at most ``MAX_WORKERS``)."""
    if not requests:
        return {}
    names = list(requests)
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(names))) as pool:
        answers = pool.map(
            lambda n: _post(client, str(policy.witnesses[n].url), requests[n]), names
        )
        return dict(zip(names, answers, strict=True))


def _short(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace").strip()
    return "".join(c if c.isprintable() else " " for c in text)


def witness_checkpoint(
    note: str,
    size: int,
    policy: TlogPolicy,
    *,
    old_sizes: Mapping[str, int],
    proof: Callable[[int], list[bytes]],
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> Witnessing:
    """Submit the signed checkpoint ``note`` (of ``size`` entries) to every witness of
    ``policy`` that has a URL; ``old_sizes`` are the sizes each witness is believed to
    have cosigned (default 0) and ``proof(old)`` the consistency proof from ``old`` to
    ``size``. Called from one thread; the HTTP requests run concurrently. A caller that
    witnesses often passes its own ``client`` (creating one costs tens of milliseconds:
    its TLS context), which then keeps its connections to the witnesses alive."""
    witnesses = list(policy.witnesses.values())
    outcomes: dict[str, WitnessOutcome] = {
        w.name: WitnessOutcome(w.name, False, "no URL in the policy")
        for w in witnesses
        if not w.url
    }
    pending = {w.name: old_sizes.get(w.name, 0) for w in witnesses if w.url}
    lines: list[str] = []
    with contextlib.ExitStack() as stack:
        if client is None:
            import httpx

            client = stack.enter_context(httpx.Client(timeout=timeout))
        for attempt in (1, 2):
            if not pending:
                break
            requests = {}
            for name, old in pending.items():
                try:
                    requests[name] = AddCheckpoint(old, tuple(proof(old)), note).body()
                except InvalidInput as exc:
                    outcomes[name] = WitnessOutcome(name, False, f"no proof from size {old}: {exc}")
            answers = _post_all(client, policy, requests)
            retry: dict[str, int] = {}
            for name, answer in answers.items():
                outcome, hint = _judge(policy.witnesses[name], note, size, pending[name], answer)
                if hint is not None and attempt == 1:
                    retry[name] = hint
                else:
                    outcomes[name] = outcome
                    if outcome.cosigned:
                        lines += _valid_lines(policy.witnesses[name], note, answer.body)
            pending = retry
    cosigned_note = with_signatures(note, lines) if lines else note
    ordered = tuple(outcomes[w.name] for w in witnesses)
    quorum = policy.satisfied(o.name for o in ordered if o.cosigned)
    for o in ordered:
        logger.info("witness %s: %s", o.name, "cosigned" if o.cosigned else "refused")
    return Witnessing(cosigned_note, ordered, quorum)


def _judge(
    witness: PolicyWitness, note: str, size: int, old: int, answer: _Answer
) -> tuple[WitnessOutcome, int | None]:
    """The outcome of one answer, and the size to retry from after a usable 409."""
    name = witness.name
    if answer.status is None:
        return WitnessOutcome(name, False, f"unreachable ({answer.error})"), None
    if answer.status == 200:
        if _valid_lines(witness, note, answer.body):
            return WitnessOutcome(name, True, "cosigned", 200), None
        return WitnessOutcome(name, False, "answered without a valid cosignature", 200), None
    if answer.status == 409:
        try:
            if not answer.content_type.startswith(SIZE_CONTENT_TYPE):
                raise InvalidInput("wrong content type")
            seen = parse_size_hint(answer.body)
        except InvalidInput:
            return WitnessOutcome(name, False, "409 without a tree size", 409), None
        if seen > size:
            detail = (
                f"has cosigned a tree of {seen} entries, larger than this checkpoint's "
                f"{size}: the log was rolled back or forked"
            )
            return WitnessOutcome(name, False, detail, 409, seen), None
        if seen == old:
            return WitnessOutcome(name, False, f"409 for its own size {seen}", 409, seen), None
        return WitnessOutcome(name, False, f"has cosigned size {seen}", 409, seen), seen
    detail = f"refused ({answer.status}: {_short(answer.body)})"
    return WitnessOutcome(name, False, detail, answer.status), None


def _valid_lines(witness: PolicyWitness, note: str, body: bytes) -> list[str]:
    """The answer's signature lines that are valid cosignatures by ``witness``."""
    try:
        candidate = with_signatures(note, cosignature_lines(body))
        opened = open_note(candidate, [witness.verifier])
    except (InvalidInput, AuditChainBroken):  # a malformed answer is no cosignature
        return []
    return list(opened.lines)
