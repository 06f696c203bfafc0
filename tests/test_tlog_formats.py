"""c2sp.org/tlog-policy, c2sp.org/tlog-proof and consentgate's statements, pure."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog import audit
from consentgate.tlog.checkpoint import Signer, generate_signing_key, load_signer, sign_checkpoint
from consentgate.tlog.keys import key_chain, rotation_statement
from consentgate.tlog.membership import MemberTree, member_key, member_secret
from consentgate.tlog.merkle import MerkleTree
from consentgate.tlog.note import with_signatures
from consentgate.tlog.policy import parse_policy
from consentgate.tlog.proof import TlogProof, is_tlog_proof, parse_tlog_proof
from consentgate.tlog.receipts import entry_leaf
from consentgate.tlog.statements import (
    build_membership_proof,
    build_receipt_proof,
    verify_membership_proof,
    verify_receipt_proof,
)
from consentgate.tlog.witness import Cosigner, new_cosigner_key, parse_cosigner_key

ORIGIN = "consentgate/0123456789abcdef"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> list[Signer]:
    d = tmp_path_factory.mktemp("keys")
    for n in range(2):
        generate_signing_key(d / f"{n}.key", name=ORIGIN)
    return [load_signer(d / f"{n}.key") for n in range(2)]


@pytest.fixture(scope="module")
def witnesses() -> list[Cosigner]:
    return [parse_cosigner_key(new_cosigner_key(f"witness.test/w{i}")) for i in range(4)]


def _policy(log: Signer, ws: list[Cosigner], quorum: str = "q", group: str = "2") -> str:
    lines = [f"log {log.verifier_key} https://log.example/", ""]
    lines += [f"witness w{i} {w.verifier.key}" for i, w in enumerate(ws)]
    lines += [f"group q {group} " + " ".join(f"w{i}" for i in range(len(ws))), f"quorum {quorum}"]
    return "\n".join(lines) + "\n"


# -- tlog-policy ------------------------------------------------------------------------------


def test_a_policy_parses_and_evaluates_its_quorum(
    keys: list[Signer], witnesses: list[Cosigner]
) -> None:
    text = (
        "# a comment\n"
        f"  log\t{keys[0].verifier_key}  \n"
        f"witness X1 {witnesses[0].verifier.key} https://w1.example/\n"
        f"witness X2 {witnesses[1].verifier.key}\n"
        f"witness Y1 {witnesses[2].verifier.key}\n"
        f"witness Y2 {witnesses[3].verifier.key}\n"
        "group X 2 X1 X2\n"
        "group Y any Y1 Y2\n"
        "group XY all X Y\n"
        "quorum XY\n"
    )
    policy = parse_policy(text.encode())
    assert policy.logs[0].url is None and policy.witnesses["X1"].url == "https://w1.example/"
    assert policy.satisfied({"X1", "X2", "Y2"})
    assert not policy.satisfied({"X1", "Y1", "Y2"})
    assert not policy.satisfied({"X1", "X2"})
    assert parse_policy(f"log {keys[0].verifier_key}\nquorum none\n".encode()).satisfied(set())
    single = parse_policy(f"witness w {witnesses[0].verifier.key}\nquorum w\n".encode())
    assert single.satisfied({"w"}) and not single.satisfied(set())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("quorum none\nquorum none\n", "exactly one quorum"),
        ("log {L}\n", "no quorum line"),
        ("quorum w1\n", "not defined on an earlier line"),
        ("group g any w1\nwitness w1 {W0}\nquorum g\n", "not defined on an earlier line"),
        ("witness none {W0}\nquorum none\n", "reserved"),
        ("witness w1 {W0}\nwitness w1 {W1}\nquorum w1\n", "already defined"),
        ("witness w1 {W0}\nwitness w2 {W0}\nquorum w1\n", "already listed"),
        ("log {L}\nlog {L}\nquorum none\n", "already listed"),
        ("witness w1 {W0}\ngroup g 2 w1\nquorum g\n", "threshold"),
        ("witness w1 {W0}\ngroup g 0 w1\nquorum g\n", "threshold"),
        ("witness w1 {W0}\ngroup g any w1 w1\nquorum g\n", "twice"),
        ("witness w1 {W0}\ngroup g any w1\ngroup h any w1\nquorum g\n", "already a member"),
        ("witness w1 {W0}\ngroup g any none\nquorum g\n", "cannot be a group member"),
        ("witness w1 {L}\nquorum w1\n", "cosignature/v1"),
        ("log {W0}\nquorum none\n", "log key"),
        ("frobnicate x\nquorum none\n", "unknown keyword"),
        ("log {L}\r\nquorum none\n", "control character 0x0d"),
        ("log {L} url extra\nquorum none\n", "expected: log"),
        ("witness w1\nquorum none\n", "expected: witness"),
        ("quorum\n", "expected: quorum"),
    ],
)
def test_bad_policies_are_refused_naming_the_line(
    keys: list[Signer], witnesses: list[Cosigner], body: str, message: str
) -> None:
    text = body.replace("{L}", keys[0].verifier_key)
    text = text.replace("{W0}", witnesses[0].verifier.key).replace(
        "{W1}", witnesses[1].verifier.key
    )
    with pytest.raises(InvalidInput, match=message) as info:
        parse_policy(text.encode(), name="p.txt")
    assert str(info.value).startswith("p.txt")


def test_policy_verification_requires_the_log_and_the_quorum(
    keys: list[Signer], witnesses: list[Cosigner]
) -> None:
    policy = parse_policy(_policy(keys[0], witnesses[:3]).encode())
    tree = MerkleTree([bytes(32)] * 5)
    note = sign_checkpoint(keys[0], origin=ORIGIN, size=5, root=tree.root())
    body = note[: note.index("\n\n") + 1]
    with pytest.raises(AuditChainBroken, match="not cosigned by the policy's quorum"):
        policy.verify(note)
    one = with_signatures(note, [witnesses[0].cosign(body, 10)])
    with pytest.raises(AuditChainBroken, match="from: w0"):
        policy.verify(one)
    two = with_signatures(one, [witnesses[2].cosign(body, 11)])
    checked = policy.verify(two, origin=ORIGIN)
    assert checked.witnesses == ("w0", "w2") and checked.checkpoint.size == 5
    # an unknown witness's cosignature does not count
    stranger = with_signatures(one, [witnesses[3].cosign(body, 12)])
    with pytest.raises(AuditChainBroken):
        policy.verify(stranger)
    # a cosignature for another checkpoint is a bad signature by a known key
    other_body = body.replace("\n5\n", "\n6\n")
    bad = with_signatures(one, [witnesses[1].cosign(other_body, 13)])
    with pytest.raises(AuditChainBroken, match="invalid signature"):
        policy.verify(bad)
    # not signed by the policy's log
    forged = sign_checkpoint(keys[1], origin=ORIGIN, size=5, root=tree.root())
    with pytest.raises(AuditChainBroken, match="not signed by key"):
        policy.verify(with_signatures(forged, two.split("\n\n")[1].split("\n")[1:3]))
    with pytest.raises(AuditChainBroken, match="no log with origin"):
        policy.verify(note.replace(ORIGIN, "other/log"))


# -- tlog-proof -------------------------------------------------------------------------------


def test_tlog_proof_files_round_trip_and_are_strict() -> None:
    note = "example.com/log\n3\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 x AAAAAA==\n"
    proof = TlogProof(2, (bytes(32), b"\x01" * 32), note, b"extra data")
    text = proof.text()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ZXh0cmEgZGF0YQ==\nindex 2\n")
    assert parse_tlog_proof(text) == proof and is_tlog_proof(text) and is_tlog_proof(text.encode())
    plain = TlogProof(0, (), note)
    assert plain.text() == "c2sp.org/tlog-proof@v1\nindex 0\n\n" + note
    assert parse_tlog_proof(plain.text()) == plain
    for bad in (
        text.replace("tlog-proof@v1", "tlog-proof@v2"),
        text.replace("index 2", "index 02"),
        text.replace("index 2", "index -2"),
        text.replace("extra ZXh0cmEgZGF0YQ==", "extra ZXh0cmEgZGF0YQ"),
        text.replace("extra ZXh0cmEgZGF0YQ==", "extra "),
        text.replace("\n\n", "\n", 1),
        text.replace("AQEB", "AQE!"),
        "c2sp.org/tlog-proof@v1\nindex 1\n" + "AAAA\n" + "\n" + note,
        "c2sp.org/tlog-proof@v1\n\n" + note,
        "c2sp.org/tlog-proof@v1\nindex 1\n\n",
    ):
        with pytest.raises(InvalidInput):
            parse_tlog_proof(bad)
    many = TlogProof(1, (bytes(32),) * 64, note).text()
    with pytest.raises(InvalidInput, match="more than 63"):
        parse_tlog_proof(many)
    with pytest.raises(InvalidInput):
        parse_tlog_proof(b"\xff\xfe")


# -- statements: receipts and dataset proofs ---------------------------------------------------


def _event(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "covers_from": None,
        "effective_at": datetime(2024, 9, 1, tzinfo=UTC),
        "event_id": f"ev-{i}",
        "evidence": None,
        "member_id": f"member-{i}",
        "policy_version": "v1",
        "recorded_at": datetime(2024, 9, 18, 12, 0, i, tzinfo=UTC),
        "seq": i + 1,
        "setting": "ai_posts",
        "source": "import",
        "type": "grant",
        **extra,
    }


def _log(events: list[dict[str, Any]]) -> list[audit.AuditEntry]:
    at = datetime(2024, 9, 18, tzinfo=UTC)
    items = [("consent.recorded", "consent_events", str(e["event_id"]), "ab" * 32) for e in events]
    return [e for e, _ in audit.chain(0, audit.GENESIS, items, at=at)]


def _receipt(
    signer: Signer, events: list[dict[str, Any]], index: int, note_extra: tuple[str, ...] = ()
) -> str:
    entries = _log(events)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    note = sign_checkpoint(signer, origin=ORIGIN, size=len(entries), root=tree.root())
    if note_extra:
        note = with_signatures(note, note_extra)
    return build_receipt_proof(
        signer,
        origin=ORIGIN,
        event=events[index],
        entry=entries[index],
        inclusion_proof=tree.inclusion_proof(index),
        checkpoint=note,
    )


def test_a_receipt_proof_carries_the_exact_signed_statement(keys: list[Signer]) -> None:
    # ids with U+2028, U+2029 and U+0085 would be split by str.splitlines(); the statement
    # is split on U+000A only, and nothing is re-serialised to check a signature
    events = [_event(i) for i in range(5)]
    events[3] = _event(3, event_id="ev-\u2028-\u2029-\u0085-\u00e9", member_id="m\u2028")
    text = _receipt(keys[0], events, 3)
    proof = parse_tlog_proof(text)
    assert proof.index == 3 and proof.extra is not None
    statement = proof.extra.decode()
    lines = statement.split("\n")
    assert lines[0] == "consentgate.consent-receipt/v2"
    assert lines[1] == f"origin {ORIGIN}" and lines[2] == "index 3"
    entry = _log(events)[3]
    assert lines[3] == "entry " + entry.entry_bytes().decode()
    assert json.loads(lines[4][len("event ") :])["event_id"] == "ev-\u2028-\u2029-\u0085-\u00e9"
    checked = verify_receipt_proof(text, log_keys=[keys[0].verifier])
    assert checked.event_id == "ev-\u2028-\u2029-\u0085-\u00e9" and checked.leaf_index == 3
    assert checked.entry == entry.entry_bytes() and checked.checkpoint.size == 5
    with pytest.raises(AuditChainBroken, match="not signed by key"):
        verify_receipt_proof(text, log_keys=[keys[1].verifier])


def test_every_flipped_bit_of_a_receipt_proof_fails(keys: list[Signer]) -> None:
    text = _receipt(keys[0], [_event(i) for i in range(3)], 1).encode()
    verify_receipt_proof(text, log_keys=[keys[0].verifier])
    accepted = []
    for i in range(len(text)):
        for bit in range(8):
            mutated = bytearray(text)
            mutated[i] ^= 1 << bit
            try:
                verify_receipt_proof(bytes(mutated), log_keys=[keys[0].verifier])
            except (AuditChainBroken, InvalidInput):
                continue
            accepted.append((i, bit))
    assert accepted == []


def test_receipt_statements_are_checked_field_by_field(keys: list[Signer]) -> None:
    events = [_event(i) for i in range(4)]
    entries = _log(events)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    note = sign_checkpoint(keys[0], origin=ORIGIN, size=4, root=tree.root())

    def forge(index: int, statement: str) -> str:
        from consentgate.tlog.checkpoint import sign_note

        extra = sign_note(keys[0], statement).encode()
        return TlogProof(index, tuple(tree.inclusion_proof(index)), note, extra).text()

    good = parse_tlog_proof(_receipt(keys[0], events, 2)).extra
    assert good is not None
    statement = good.decode()[: good.decode().index("\n\n") + 1]
    cases = {
        "another log": statement.replace(f"origin {ORIGIN}", "origin other/log"),
        "another index": statement.replace("index 2", "index 1"),
        "another event": statement.replace('"event_id":"ev-2"', '"event_id":"ev-1"'),
        "not a consent receipt": statement.replace("consent-receipt/v2", "consent-receipt/v3"),
        "the fields": statement.replace("\nevent ", "\nevents "),
    }
    for name, text in cases.items():
        with pytest.raises(AuditChainBroken):
            verify_receipt_proof(forge(2, text), log_keys=[keys[0].verifier])
        assert name
    # the right statement at the wrong leaf: the inclusion proof fails
    with pytest.raises(AuditChainBroken):
        verify_receipt_proof(
            forge(1, statement.replace("index 2", "index 1")), log_keys=[keys[0].verifier]
        )
    no_extra = TlogProof(2, tuple(tree.inclusion_proof(2)), note).text()
    with pytest.raises(AuditChainBroken, match="no statement"):
        verify_receipt_proof(no_extra, log_keys=[keys[0].verifier])
    with pytest.raises(InvalidInput):
        verify_receipt_proof(no_extra)


def test_a_receipt_under_a_policy_needs_the_quorum(
    keys: list[Signer], witnesses: list[Cosigner]
) -> None:
    policy = parse_policy(_policy(keys[0], witnesses[:3]).encode())
    events = [_event(i) for i in range(3)]
    entries = _log(events)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    body = sign_checkpoint(keys[0], origin=ORIGIN, size=3, root=tree.root()).split("\n\n")[0] + "\n"
    cosigs = [w.cosign(body, 100 + i) for i, w in enumerate(witnesses[:2])]
    text = _receipt(keys[0], events, 0, tuple(cosigs))
    checked = verify_receipt_proof(text, policy=policy)
    assert checked.witnesses == ("w0", "w1")
    assert verify_receipt_proof(text, policy=policy, log_keys=[keys[0].verifier]).witnesses
    weak = _receipt(keys[0], events, 0, tuple(cosigs[:1]))
    with pytest.raises(AuditChainBroken, match="quorum"):
        verify_receipt_proof(weak, policy=policy)
    assert verify_receipt_proof(weak, log_keys=[keys[0].verifier]).leaf_index == 0


def test_a_membership_proof_binds_the_members_root_to_the_log(keys: list[Signer]) -> None:
    workspace_key = b"k" * 32
    ids = [f"member-{i}" for i in range(20)]
    dataset_id = "ds-1"
    tree = MemberTree(member_key(member_secret(workspace_key, m), m, dataset_id) for m in ids[:12])
    at = datetime(2024, 9, 18, tzinfo=UTC)
    items = [("dataset.registered", "datasets", dataset_id, "cd" * 32)]
    items += [("consent.recorded", "consent_events", f"ev-{i}", "ab" * 32) for i in range(6)]
    entries = [e for e, _ in audit.chain(0, audit.GENESIS, items, at=at)]
    log = MerkleTree(entry_leaf(e) for e in entries)
    note = sign_checkpoint(keys[0], origin=ORIGIN, size=len(entries), root=log.root())
    dataset = {
        "dataset_id": dataset_id,
        "manifest_sha256": "ef" * 32,
        "members_root": tree.root.hex(),
        "members_count": tree.size,
    }
    for member, present in (("member-3", True), ("member-15", False)):
        secret = member_secret(workspace_key, member)
        text = build_membership_proof(
            keys[0],
            origin=ORIGIN,
            dataset=dataset,
            entry=entries[0],
            inclusion_proof=log.inclusion_proof(0),
            checkpoint=note,
            member_proof=tree.prove(member_key(secret, member, dataset_id), dataset_id=dataset_id),
        )
        checked = verify_membership_proof(
            text, log_keys=[keys[0].verifier], secret=secret, member_id=member
        )
        assert checked.present is present and checked.members_root == tree.root.hex()
        assert checked.dataset_id == dataset_id and checked.leaf_index == 0
        with pytest.raises(AuditChainBroken, match="not this member's key"):
            verify_membership_proof(text, log_keys=[keys[0].verifier], secret=secret, member_id="x")
        with pytest.raises(AuditChainBroken, match="another members_root"):
            verify_membership_proof(text, log_keys=[keys[0].verifier], root_hex="00" * 32)
    with pytest.raises(InvalidInput, match="does not record this dataset"):
        build_membership_proof(
            keys[0],
            origin=ORIGIN,
            dataset=dataset,
            entry=entries[1],
            inclusion_proof=log.inclusion_proof(1),
            checkpoint=note,
            member_proof=tree.prove(bytes(32), dataset_id=dataset_id),
        )


# -- key rotation -------------------------------------------------------------------------------


def test_rotation_statements_chain_the_log_keys(keys: list[Signer], tmp_path: Path) -> None:
    old, new = keys
    statement = rotation_statement(old, new, origin=ORIGIN, at="2025-01-31T12:00:00Z")
    lines = statement.split("\n")
    assert lines[:5] == [
        "consentgate.key-rotation/v1",
        f"origin {ORIGIN}",
        f"old {old.verifier_key}",
        f"new {new.verifier_key}",
        "at 2025-01-31T12:00:00Z",
    ]
    chain = key_chain(old.verifier_key, [statement], origin=ORIGIN)
    assert [k.key for k in chain] == [old.verifier_key, new.verifier_key]
    with pytest.raises(AuditChainBroken, match="previous key"):
        key_chain(new.verifier_key, [statement], origin=ORIGIN)
    with pytest.raises(AuditChainBroken, match="another log"):
        key_chain(old.verifier_key, [statement], origin="other/log")
    only_old = statement[: statement.rindex("\u2014")]  # drop the new key's signature
    with pytest.raises(AuditChainBroken, match="not signed by the new key"):
        key_chain(old.verifier_key, [only_old], origin=ORIGIN)
    generate_signing_key(tmp_path / "third", name=ORIGIN)
    third = load_signer(tmp_path / "third")
    forged = rotation_statement(third, new, origin=ORIGIN, at="2025-01-31T12:00:00Z")
    with pytest.raises(AuditChainBroken):
        key_chain(old.verifier_key, [forged], origin=ORIGIN)
    with pytest.raises(InvalidInput):
        rotation_statement(old, old, origin=ORIGIN, at="x")
