"""Pure transparency-log logic: checking a log against checkpoints, consent receipts
(every flipped bit fails), and the offline ``verify-receipt`` / ``verify-proof`` commands."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog import audit
from consentgate.tlog.checkpoint import (
    Signer,
    generate_signing_key,
    load_signer,
    sign_checkpoint,
    sign_note,
)
from consentgate.tlog.membership import MemberTree, member_key, member_secret
from consentgate.tlog.merkle import MerkleTree, leaf_hash, root_from_leaf_hashes
from consentgate.tlog.receipts import (
    LoggedCheckpoint,
    Receipt,
    blocked_inclusion_proof,
    build_receipt,
    check_log,
    entry_leaf,
    log_origin,
    units_root,
    verify_receipt,
)

ORIGIN = log_origin("0123456789abcdef")
AT = datetime(2024, 9, 18, 12, 30, 0, 250, tzinfo=UTC)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    path = tmp_path_factory.mktemp("keys") / "log.key"
    generate_signing_key(path, name=ORIGIN)
    return load_signer(path)


@pytest.fixture(scope="module")
def other_signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    path = tmp_path_factory.mktemp("keys") / "other.key"
    generate_signing_key(path, name=ORIGIN)
    return load_signer(path)


def _event(n: int) -> dict[str, Any]:
    return {
        "seq": n + 1,
        "event_id": f"ev-{n:04d}",
        "member_id": f"member-é-{n}",
        "type": "grant" if n % 2 else "withdraw",
        "setting": "ai_posts",
        "policy_version": "v1",
        "effective_at": datetime(2024, 9, 1, tzinfo=UTC),
        "recorded_at": AT,
        "covers_from": None,
        "source": "web",
        "evidence": {"ip_hash": "ab" * 4, "ui": ["toggle", 2]},
    }


def _log(n: int) -> tuple[list[audit.AuditEntry], list[dict[str, Any]]]:
    """A log of ``n`` consent entries and the events they record."""
    events = [_event(i) for i in range(n)]
    items = [(audit.CONSENT_RECORDED, "consent_events", e["event_id"], "d" * 64) for e in events]
    return [e for e, _ in audit.chain(0, audit.GENESIS, items, at=AT)], events


def _cp(signer: Signer, tree: MerkleTree, size: int, number: int) -> LoggedCheckpoint:
    root = tree.root(size)
    note = sign_checkpoint(signer, origin=ORIGIN, size=size, root=root)
    return LoggedCheckpoint(number, size, root, note)


def _receipt(signer: Signer, index: int = 5, n: int = 13, size: int | None = None) -> Receipt:
    entries, events = _log(n)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    size = n if size is None else size
    return build_receipt(
        signer,
        origin=ORIGIN,
        event=events[index],
        entry=entries[index],
        inclusion_proof=tree.inclusion_proof(index, size),
        checkpoint=_cp(signer, tree, size, 1).note,
    )


# --------------------------------------------------------------------------- check_log


def test_entry_leaf_is_the_rfc_leaf_of_the_entry_bytes() -> None:
    entries, _ = _log(3)
    assert entry_leaf(entries[1]) == leaf_hash(entries[1].entry_bytes())


def test_check_log_accepts_a_log_that_extends_its_checkpoints(signer: Signer) -> None:
    entries, _ = _log(20)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    cps = [_cp(signer, tree, s, i + 1) for i, s in enumerate([0, 1, 7, 8, 20])]
    result = check_log(tree, cps, verifier=signer.verifier, origin=ORIGIN)
    assert result.checkpoints == 5 and result.latest == cps[-1] and result.uncovered == 0
    assert result.root == tree.root() and result.signatures_checked
    unsigned = check_log(tree, cps, verifier=None, origin=ORIGIN)
    assert not unsigned.signatures_checked
    empty = check_log(MerkleTree(), [], verifier=signer.verifier, origin=ORIGIN)
    assert (empty.size, empty.latest, empty.uncovered) == (0, None, 0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=5),
    data=st.data(),
)
def test_a_changed_entry_fails_at_the_first_checkpoint_covering_it(
    signer: Signer, n: int, sizes: list[int], data: st.DataObject
) -> None:
    sizes = sorted({min(s, n) for s in sizes})
    j = data.draw(st.integers(0, n - 1))
    leaves = [leaf_hash(b"entry %d" % i) for i in range(n)]
    tree = MerkleTree(leaves)
    cps = [_cp(signer, tree, s, i + 1) for i, s in enumerate(sizes)]
    changed = MerkleTree([leaf_hash(b"forged") if i == j else h for i, h in enumerate(leaves)])
    covering = [s for s in sizes if s > j]
    if not covering:
        assert check_log(changed, cps, verifier=signer.verifier, origin=ORIGIN).size == n
        return
    with pytest.raises(AuditChainBroken) as err:
        check_log(changed, cps, verifier=signer.verifier, origin=ORIGIN)
    assert err.value.index == max([0, *(s for s in sizes if s <= j)])
    assert f"#{sizes.index(covering[0]) + 1} " in str(err.value)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_a_rolled_back_log_fails_naming_the_first_missing_entry(
    signer: Signer, n: int, data: st.DataObject
) -> None:
    tree = MerkleTree(leaf_hash(b"entry %d" % i) for i in range(n))
    m = data.draw(st.integers(0, n - 1))
    cp = _cp(signer, tree, n, 1)
    with pytest.raises(AuditChainBroken, match="rolled back") as err:
        check_log(
            MerkleTree(leaf_hash(b"entry %d" % i) for i in range(m)),
            [cp],
            verifier=signer.verifier,
            origin=ORIGIN,
        )
    assert err.value.index == m


def test_an_earlier_checkpoint_larger_than_the_latest_is_a_rollback(signer: Signer) -> None:
    tree = MerkleTree(leaf_hash(b"entry %d" % i) for i in range(10))
    cps = [_cp(signer, tree, 10, 1), _cp(signer, tree, 6, 2)]  # re-signed after a rollback
    with pytest.raises(AuditChainBroken, match="larger than the latest checkpoint #2"):
        check_log(tree, cps, verifier=signer.verifier, origin=ORIGIN)


def test_check_log_refuses_foreign_and_mislabelled_checkpoints(
    signer: Signer, other_signer: Signer
) -> None:
    tree = MerkleTree(leaf_hash(b"entry %d" % i) for i in range(5))
    good = _cp(signer, tree, 5, 1)
    with pytest.raises(AuditChainBroken, match="checkpoint #1: note is not signed"):
        check_log(tree, [_cp(other_signer, tree, 5, 1)], verifier=signer.verifier, origin=ORIGIN)
    with pytest.raises(AuditChainBroken, match="origin"):
        check_log(tree, [good], verifier=signer.verifier, origin="consentgate/another")
    relabelled = dataclasses.replace(good, size=4, root=tree.root(4))
    with pytest.raises(AuditChainBroken, match="differs from its signed note"):
        check_log(tree, [relabelled], verifier=signer.verifier, origin=ORIGIN)
    # Without a verifier only the stored columns count: the relabelled one then passes.
    assert check_log(tree, [relabelled], verifier=None, origin=ORIGIN).checkpoints == 1
    external = LoggedCheckpoint(0, 6, tree.root(), good.note, "witness.txt")
    with pytest.raises(AuditChainBroken, match=r"checkpoint witness\.txt"):
        check_log(tree, [external], verifier=None, origin=ORIGIN)


# --------------------------------------------------------------------------- block units


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(0, 6), data=st.data())
def test_block_units_give_the_rfc_root_and_audit_paths(n: int, k: int, data: st.DataObject) -> None:
    block = 1 << k
    leaves = [leaf_hash(b"entry %d" % i) for i in range(n)]
    tree = MerkleTree(leaves)
    size = data.draw(st.integers(1, n))
    units = [root_from_leaf_hashes(leaves[o : min(o + block, size)]) for o in range(0, size, block)]
    assert units_root(units) == tree.root(size)
    i = data.draw(st.integers(0, size - 1))
    first = i - i % block
    own = leaves[first : min(first + block, size)]
    assert blocked_inclusion_proof(units, own, i, block=block) == tree.inclusion_proof(i, size)


def test_block_units_refuse_bad_blocks_and_changed_entries() -> None:
    leaves = [leaf_hash(b"entry %d" % i) for i in range(10)]
    units = [root_from_leaf_hashes(leaves[o : o + 4]) for o in range(0, 10, 4)]
    with pytest.raises(InvalidInput, match="power of two"):
        blocked_inclusion_proof(units, leaves[:3], 1, block=3)
    with pytest.raises(InvalidInput, match="outside"):
        blocked_inclusion_proof(units, leaves[:4], 12, block=4)
    changed = [*leaves[4:6], leaf_hash(b"forged"), leaves[7]]
    with pytest.raises(AuditChainBroken, match="audit entries 4 to 7 differ") as err:
        blocked_inclusion_proof(units, changed, 5, block=4)
    assert err.value.index == 4
    assert units_root([]) == MerkleTree().root()


# --------------------------------------------------------------------------- receipts


def test_a_receipt_round_trips_and_verifies(signer: Signer) -> None:
    receipt = _receipt(signer)
    text = receipt.to_json()
    assert Receipt.from_json(text) == receipt == Receipt.from_json(text.encode())
    check = verify_receipt(text, signer.verifier)
    assert (check.event_id, check.event_type, check.leaf_index) == ("ev-0005", "grant", 5)
    assert check.checkpoint.size == 13 and check.checkpoint.origin == ORIGIN
    doc = json.loads(text)
    assert "tree_size" not in doc  # the size comes from the signed checkpoint only
    assert doc["event"]["effective_at"] == "2024-09-01T00:00:00Z"
    assert doc["entry"]["at"] == "2024-09-18T12:30:00.000250Z"
    assert doc["event"]["member_id"] == "member-é-5" and "member-é-5" in text  # UTF-8, not \\u


@pytest.mark.parametrize(
    ("index", "n", "size"), [(0, 1, 1), (0, 13, 13), (12, 13, 13), (5, 13, 6), (7, 64, 64)]
)
def test_receipts_for_any_position_verify(signer: Signer, index: int, n: int, size: int) -> None:
    assert (
        verify_receipt(_receipt(signer, index, n, size).to_json(), signer.verifier).leaf_index
        == index
    )


def test_every_flipped_bit_of_a_receipt_fails(signer: Signer) -> None:
    data = _receipt(signer, 6, 9).to_json().encode("utf-8")
    verify_receipt(data, signer.verifier)
    for i in range(len(data)):
        for bit in range(8):
            altered = bytearray(data)
            altered[i] ^= 1 << bit
            with pytest.raises(AuditChainBroken):
                verify_receipt(bytes(altered), signer.verifier)


def test_every_removed_byte_and_any_reformatting_fails(signer: Signer) -> None:
    text = _receipt(signer, 2, 5).to_json()
    for i in range(len(text)):
        with pytest.raises(AuditChainBroken):
            verify_receipt(text[:i] + text[i + 1 :], signer.verifier)
    doc = json.loads(text)
    for variant in (
        json.dumps(doc),
        json.dumps(doc, indent=2),
        json.dumps(doc, indent=2, ensure_ascii=False),
    ):
        with pytest.raises(AuditChainBroken, match="canonical"):
            verify_receipt(variant, signer.verifier)


def _resign(receipt: Receipt, signer: Signer, **changes: Any) -> str:
    """A receipt changed in meaning but written in canonical form, re-signed by ``signer``."""
    changed = dataclasses.replace(receipt, **changes)
    statement = changed.statement()
    signature = sign_note(signer, statement)[len(statement) + 1 :].rstrip("\n")
    return dataclasses.replace(changed, signature=signature).to_json()


def test_semantic_changes_in_canonical_form_fail(signer: Signer, other_signer: Signer) -> None:
    receipt = _receipt(signer, 5, 13)
    event = {**receipt.event, "type": "deny"}
    with pytest.raises(AuditChainBroken, match="receipt signature"):
        verify_receipt(dataclasses.replace(receipt, event=event).to_json(), signer.verifier)
    with pytest.raises(AuditChainBroken, match="receipt signature"):  # signed by another key
        verify_receipt(_resign(receipt, other_signer), signer.verifier)
    # Even signed by the log key: an entry for another event, a wrong proof, a short tree.
    other_entry = dataclasses.replace(receipt.entry, key="ev-9999")
    with pytest.raises(AuditChainBroken, match="another event"):
        verify_receipt(_resign(receipt, signer, entry=other_entry), signer.verifier)
    moved = dataclasses.replace(receipt.entry, idx=4)
    with pytest.raises(AuditChainBroken, match="inclusion proof"):
        verify_receipt(_resign(receipt, signer, entry=moved), signer.verifier)
    proof = (receipt.inclusion_proof[1], receipt.inclusion_proof[0], *receipt.inclusion_proof[2:])
    with pytest.raises(AuditChainBroken, match="inclusion proof"):
        verify_receipt(
            dataclasses.replace(receipt, inclusion_proof=proof).to_json(), signer.verifier
        )
    entries, _ = _log(13)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    short = _cp(signer, tree, 5, 1).note  # a checkpoint of entries 0..4
    with pytest.raises(AuditChainBroken, match="not covered"):
        verify_receipt(dataclasses.replace(receipt, checkpoint=short).to_json(), signer.verifier)
    foreign = _cp(other_signer, tree, 13, 1).note
    with pytest.raises(AuditChainBroken, match="receipt checkpoint"):
        verify_receipt(dataclasses.replace(receipt, checkpoint=foreign).to_json(), signer.verifier)
    elsewhere = sign_checkpoint(signer, origin="consentgate/elsewhere", size=13, root=tree.root())
    with pytest.raises(AuditChainBroken, match="origin"):
        verify_receipt(
            dataclasses.replace(receipt, checkpoint=elsewhere).to_json(), signer.verifier
        )
    not_consent = dataclasses.replace(receipt.entry, action="policy.published")
    with pytest.raises(AuditChainBroken, match="does not record a consent event"):
        verify_receipt(_resign(receipt, signer, entry=not_consent), signer.verifier)


def test_build_receipt_refuses_an_entry_of_another_event(signer: Signer) -> None:
    entries, events = _log(3)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    with pytest.raises(InvalidInput, match="does not record this consent event"):
        build_receipt(
            signer,
            origin=ORIGIN,
            event=events[0],
            entry=entries[1],
            inclusion_proof=tree.inclusion_proof(1),
            checkpoint=_cp(signer, tree, 3, 1).note,
        )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("signature"), "signature: missing"),
        (lambda d: d.update(extra=1), "extra: unknown field"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(type="x"), "type"),
        (lambda d: d.update(leaf_index=0), "leaf_index"),
        (lambda d: d["entry"].update(at="2024-09-18"), "entry.at"),
        (lambda d: d["entry"].pop("prev"), "entry: must be an object"),
        (lambda d: d["inclusion_proof"].append("AB" * 32), "inclusion_proof[4]"),
        (lambda d: d.update(event=[]), "event: must be an object"),
    ],
)
def test_malformed_receipts_are_refused_naming_the_field(
    signer: Signer, change: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    doc = json.loads(_receipt(signer).to_json())
    change(doc)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        Receipt.from_json(text)
    with pytest.raises(AuditChainBroken, match="receipt refused"):
        verify_receipt(text, signer.verifier)


def test_receipt_files_that_are_not_json_are_refused(signer: Signer) -> None:
    for bad in (b"\xff\xfe", b"", b"[]", b'{"a": NaN}', b'{"type": 1, "type": 2}'):
        with pytest.raises(AuditChainBroken, match="receipt refused"):
            verify_receipt(bad, signer.verifier)


# --------------------------------------------------------------------------- offline commands


@pytest.fixture
def offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI with a database URL that cannot be opened: the command must not need it."""
    from consentgate.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--db", f"sqlite:///{tmp_path}/absent/dir/x.db", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def test_verify_receipt_offline(
    offline: Callable[..., tuple[int, str, str]], signer: Signer, tmp_path: Path
) -> None:
    receipt, key = tmp_path / "r.json", tmp_path / "log.pub"
    receipt.write_text(_receipt(signer).to_json())
    key.write_text(signer.verifier_key + "\n")
    code, out, _ = offline("verify-receipt", str(receipt), "--public-key", str(key), "--json")
    assert code == 0 and json.loads(out)["valid"] and json.loads(out)["leaf_index"] == 5
    data = bytearray(receipt.read_bytes())
    for i in range(0, len(data), 97):  # a sample through the CLI; every bit is tested above
        altered = bytearray(data)
        altered[i] ^= 0x04
        receipt.write_bytes(bytes(altered))
        code, out, _ = offline("verify-receipt", str(receipt), "--public-key", str(key))
        assert code == 1 and out.startswith("INVALID: "), i
    key.write_text("not a key\n")
    receipt.write_bytes(bytes(data))
    code, _, err = offline("verify-receipt", str(receipt), "--public-key", str(key))
    assert code == 1 and "not a verifier key" in err
    assert not (tmp_path / "absent").exists()


def test_verify_proof_offline(offline: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    workspace_key = b"k" * 32
    ids = [f"member-{i}" for i in range(50)]
    keys = [member_key(member_secret(workspace_key, m), m, "ds-1") for m in ids[:30]]
    tree = MemberTree(keys)
    root = tree.root.hex()
    out_file, in_file = tmp_path / "out.json", tmp_path / "in.json"
    absent_secret = member_secret(workspace_key, "member-40")
    out_file.write_text(
        tree.prove(member_key(absent_secret, "member-40", "ds-1"), dataset_id="ds-1").to_json()
    )
    present_secret = member_secret(workspace_key, "member-3")
    in_file.write_text(
        tree.prove(member_key(present_secret, "member-3", "ds-1"), dataset_id="ds-1").to_json()
    )

    code, out, _ = offline("verify-proof", str(out_file), "--root", root, "--json")
    assert code == 0 and json.loads(out)["status"] == "out" and json.loads(out)["present"] is False
    code, out, _ = offline(
        "verify-proof", str(in_file), "--root", root, "--size", "30", "--dataset", "ds-1"
    )
    assert code == 0 and out.startswith("VALID: IN")
    args = ["--secret", absent_secret.hex(), "--member", "member-40"]
    assert offline("verify-proof", str(out_file), "--root", root, *args)[0] == 0
    code, out, _ = offline(
        "verify-proof", str(in_file), "--root", root, *args
    )  # not member-40's proof
    assert code == 1 and out.startswith("INVALID:")
    assert offline("verify-proof", str(in_file), "--root", root, "--size", "31")[0] == 1
    assert offline("verify-proof", str(in_file), "--root", root, "--dataset", "ds-2")[0] == 1
    assert offline("verify-proof", str(in_file), "--root", "00" * 32)[0] == 1
    assert offline("verify-proof", str(in_file), "--root", "xyz")[0] == 1
    doc = json.loads(in_file.read_text())
    doc["member"]["index"] ^= 1
    in_file.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    assert offline("verify-proof", str(in_file), "--root", root)[0] == 1
    # usage errors: exit 2
    assert offline("verify-proof", str(out_file))[0] == 2
    assert offline("verify-proof", str(out_file), "--root", root, "--secret", "00")[0] == 2
    assert (
        offline("verify-proof", str(out_file), "--root", root, "--secret", "zz", "--member", "m")[0]
        == 2
    )
    assert offline("verify-proof", str(tmp_path / "missing.json"), "--root", root)[0] == 2
    assert not (tmp_path / "absent").exists()
