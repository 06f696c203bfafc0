"""c2sp.org/tlog-cosignature (cosignature/v1) and the tlog-witness decision, pure."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog.checkpoint import Signer, generate_signing_key, load_signer, sign_checkpoint
from consentgate.tlog.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from consentgate.tlog.note import open_note, parse_vkey, with_signatures
from consentgate.tlog.witness import (
    AddCheckpoint,
    Cosigner,
    Seen,
    add_checkpoint,
    cosignature_lines,
    cosignature_message,
    new_cosigner_key,
    origin_hash,
    parse_add_checkpoint,
    parse_cosigner_key,
    parse_cosigner_verifier_key,
    parse_size_hint,
)

ORIGIN = "log.test/a"
TREE = MerkleTree(leaf_hash(b"%d" % i) for i in range(100))


@pytest.fixture(scope="module")
def log_signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    path = tmp_path_factory.mktemp("k") / "log.key"
    generate_signing_key(path, name=ORIGIN)
    return load_signer(path)


@pytest.fixture(scope="module")
def cosigner() -> Cosigner:
    return parse_cosigner_key(new_cosigner_key("witness.test/w1"))


def test_cosigner_keys_follow_the_spec(cosigner: Cosigner) -> None:
    vkey = cosigner.verifier.key
    decoded = parse_vkey(vkey)
    assert decoded.alg == 0x04 and len(decoded.key) == 32
    expected = hashlib.sha256(b"witness.test/w1\n\x04" + decoded.key).digest()[:4]
    assert decoded.key_id == expected == cosigner.key_id
    assert parse_cosigner_verifier_key(vkey).key == vkey
    # A real cosignature/v1 verifier key published by a witness operator (transparency-dev
    # formats tests): its key id is the one computed with type 0x04.
    real = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    assert parse_cosigner_verifier_key(real).key == real
    with pytest.raises(InvalidInput, match="0x01"):  # a note key is not a witness key
        parse_cosigner_verifier_key("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")


def test_cosignatures_sign_the_documented_bytes(cosigner: Cosigner) -> None:
    text = f"{ORIGIN}\n100\n{base64.b64encode(TREE.root()).decode()}\n"
    line = cosigner.cosign(text, 1679315147)
    name, b64 = line[2:].split(" ")
    raw = base64.b64decode(b64)
    assert line.startswith("\u2014 witness.test/w1 ") and name == "witness.test/w1"
    assert raw[:4] == cosigner.key_id and len(raw) == 4 + 8 + 64
    assert struct.unpack(">Q", raw[4:12])[0] == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    assert cosignature_message(text.encode(), 1679315147) == message
    cosigner.verifier.public_key.verify(raw[12:], message)  # raises if not
    assert cosigner.verifier.verify(text.encode(), raw[4:])
    assert not cosigner.verifier.verify(text.encode() + b"x\n", raw[4:])
    tampered = raw[4:11] + bytes([raw[11] ^ 1]) + raw[12:]  # another timestamp
    assert not cosigner.verifier.verify(text.encode(), tampered)
    with pytest.raises(InvalidInput):
        cosigner.cosign(text, 0)


def test_cosigner_key_files_are_strict(cosigner: Cosigner) -> None:
    line = new_cosigner_key("w.test/x")
    assert line.startswith("PRIVATE+KEY+w.test/x+") and line.endswith("\n")
    assert parse_cosigner_key(line).verifier.key.startswith("w.test/x+")
    name, kid, b64 = line.strip().split("+", 4)[2:]
    as_note_key = base64.b64encode(bytes([1]) + base64.b64decode(b64)[1:]).decode()
    for bad in (
        line.replace("PRIVATE", "PUBLIC"),
        f"PRIVATE+KEY+{name}+00000000+{b64}",
        f"PRIVATE+KEY+{name}+{kid}+{as_note_key}",
        f"PRIVATE+KEY+bad name+{kid}+{b64}",
    ):
        with pytest.raises(InvalidInput) as info:
            parse_cosigner_key(bad)
        assert b64 not in str(info.value)
    with pytest.raises(InvalidInput):
        new_cosigner_key("has space")


def _body(old: int, proof: list[bytes], note: str) -> bytes:
    return AddCheckpoint(old, tuple(proof), note).body()


def test_add_checkpoint_bodies_round_trip_and_are_strict(log_signer: Signer) -> None:
    note = sign_checkpoint(log_signer, origin=ORIGIN, size=100, root=TREE.root())
    proof = TREE.consistency_proof(60, 100)
    body = _body(60, proof, note)
    assert body.startswith(b"old 60\n") and b"\n\n" + note.encode() in body
    assert parse_add_checkpoint(body) == AddCheckpoint(60, tuple(proof), note)
    from consentgate.tlog.witness import WitnessRefusal

    for bad in (
        b"old 060\n\n" + note.encode(),
        b"old -1\n\n" + note.encode(),
        b"olds 1\n\n" + note.encode(),
        b"old 1\n" + note.encode(),
        b"old 1\nnot base64!\n\n" + note.encode(),
        b"old 1\n" + base64.b64encode(b"short") + b"\n\n" + note.encode(),
        b"old 1\n"
        + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(64))
        + b"\n"
        + note.encode(),
    ):
        with pytest.raises(WitnessRefusal) as info:
            parse_add_checkpoint(bad)
        assert info.value.status == 400


class _World:
    def __init__(self, log_signer: Signer, cosigner: Cosigner) -> None:
        self.signer, self.cosigner = log_signer, cosigner
        self.state: dict[str, Seen] = {}

    def submit(self, body: bytes, now: int = 1_700_000_000) -> tuple[int, bytes]:
        reply = add_checkpoint(
            body,
            logs={ORIGIN: [self.signer.verifier]},
            seen=self.state.get,
            cosigner=self.cosigner,
            now=now,
        )
        if reply.seen is not None:
            assert reply.status == 200 and reply.origin == ORIGIN
            self.state[ORIGIN] = reply.seen
        return reply.status, reply.body

    def note(self, size: int, tree: MerkleTree = TREE) -> str:
        return sign_checkpoint(self.signer, origin=ORIGIN, size=size, root=tree.root(size))


def test_the_witness_decides_as_the_spec_says(log_signer: Signer, cosigner: Cosigner) -> None:
    w = _World(log_signer, cosigner)
    # the first checkpoint: old 0, no proof
    status, body = w.submit(_body(0, [], w.note(10)))
    assert status == 200
    lines = cosignature_lines(body)
    assert len(lines) == 1
    cosigned = with_signatures(w.note(10), lines)
    assert open_note(cosigned, [cosigner.verifier]).signed_by == (cosigner.verifier,)
    assert w.state[ORIGIN].size == 10 and w.state[ORIGIN].checkpoint.endswith(lines[0] + "\n")
    # a stale old size: 409 with the size the witness has
    assert w.submit(_body(0, [], w.note(20))) == (409, b"10\n")
    # the right old size and proof: cosigned
    assert w.submit(_body(10, TREE.consistency_proof(10, 20), w.note(20)))[0] == 200
    # a proof that does not verify: 422, state unchanged
    other = MerkleTree(leaf_hash(b"x%d" % i) for i in range(100))
    assert w.submit(_body(20, other.consistency_proof(20, 30), w.note(30, other)))[0] == 422
    assert w.state[ORIGIN].size == 20
    # same size, another root (a fork): 422
    assert w.submit(_body(20, [], w.note(20, other)))[0] == 422
    # same size, same root: cosigned again
    assert w.submit(_body(20, [], w.note(20)))[0] == 200
    # old larger than the checkpoint: 400
    assert w.submit(_body(20, [], w.note(15)))[0] == 400
    # a rolled-back checkpoint with the right old size is a 400 too (old > size)
    assert w.submit(_body(20, TREE.consistency_proof(15, 20), w.note(15)))[0] == 400
    assert w.state[ORIGIN].size == 20


def test_the_witness_refuses_unknown_logs_and_bad_signatures(
    log_signer: Signer, cosigner: Cosigner, tmp_path: Path
) -> None:
    w = _World(log_signer, cosigner)
    note = w.note(10)
    other_origin = note.replace(ORIGIN, "log.test/b", 1)
    assert w.submit(_body(0, [], other_origin))[0] == 404
    generate_signing_key(tmp_path / "k", name=ORIGIN)
    stranger = sign_checkpoint(
        load_signer(tmp_path / "k"), origin=ORIGIN, size=10, root=TREE.root(10)
    )
    assert w.submit(_body(0, [], stranger))[0] == 403
    forged = note.replace("\n10\n", "\n11\n", 1)
    assert w.submit(_body(0, [], forged))[0] == 403
    assert w.submit(b"old 0\n\nnot a note")[0] == 400
    assert w.state == {}
    # size 0 must have the empty root, and a proof from 0 must be empty
    zero_bad = sign_checkpoint(log_signer, origin=ORIGIN, size=0, root=TREE.root(1))
    assert w.submit(_body(0, [], zero_bad))[0] == 422
    zero = sign_checkpoint(log_signer, origin=ORIGIN, size=0, root=EMPTY_ROOT)
    assert w.submit(_body(0, [], zero))[0] == 200
    assert w.submit(_body(0, [TREE.root(1)], w.note(5)))[0] == 422


def test_client_side_parsing() -> None:
    assert parse_size_hint(b"0\n") == 0 and parse_size_hint(b"123\n") == 123
    for bad in (b"12", b"012\n", b"x\n", b"1\n2\n"):
        with pytest.raises(InvalidInput):
            parse_size_hint(bad)
    line = "\u2014 w.test/x " + base64.b64encode(bytes(76)).decode()
    assert cosignature_lines((line + "\n").encode()) == [line]
    for bad in (b"", b"\n", line.encode(), b"- w x\n", (line + "\n\n").encode()):
        with pytest.raises(InvalidInput):
            cosignature_lines(bad)
    assert origin_hash("example.com/log") == hashlib.sha256(b"example.com/log").hexdigest()


def test_with_signatures_keeps_notes_well_formed(log_signer: Signer, cosigner: Cosigner) -> None:
    note = sign_checkpoint(log_signer, origin=ORIGIN, size=3, root=TREE.root(3))
    line = cosigner.cosign(note[: note.index("\n\n") + 1], 5)
    once = with_signatures(note, [line])
    assert with_signatures(once, [line]) == once  # no duplicate lines
    with pytest.raises(AuditChainBroken):
        with_signatures(note, ["not a signature line"])
