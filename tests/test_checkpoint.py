"""Signed checkpoints: conformance with golang.org/x/mod/sumdb/note and sum.golang.org,
round trips, wrong keys, tampering and malformed notes."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.errors import AuditChainBroken, Conflict, InvalidInput, NotFound
from consentgate.tlog.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    generate_signing_key,
    load_signer,
    open_note,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from consentgate.tlog.merkle import MerkleTree, leaf_hash

# -- golang.org/x/mod/sumdb/note test vectors (note_test.go) ----------------------------

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
    "pRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

# -- real checkpoints of the Go checksum database, quoted in public repositories --------

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTES = [
    (
        6476701,
        "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=",
        "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=",
    ),
    (
        65209736,
        "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
        "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=",
    ),
    (
        15067302,
        "gJyioq6dwR9n+NjEWORfYmH+ubeYm3kH42BBQ0bTpYI=",
        "Az3grp1rvWOs5NKlr/xR4GLN/CDyzzakmt1o61uSxYKpK1SerqOP2ClbX/peKUZjYnyomH5Xz7GZG3TpB7OeKn4E2ww=",
    ),
]


def sumdb_note(size: int, root: str, sig: str) -> str:
    return f"go.sum database tree\n{size}\n{root}\n\n— sum.golang.org {sig}\n"


def test_go_signer_key_gives_the_go_verifier_key() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier_key == PETER_VKEY
    assert parse_verifier_key(PETER_VKEY).key == PETER_VKEY


def test_signing_reproduces_the_go_signed_note_byte_for_byte() -> None:
    assert sign_note(parse_signer_key(PETER_SKEY), TEXT) == TEXT + "\n" + PETER_SIG


def test_open_verifies_the_known_key_and_ignores_unknown_ones() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, parse_verifier_key(PETER_VKEY)) == TEXT
    assert open_note(note, parse_verifier_key(ENOCH_VKEY)) == TEXT
    other = parse_signer_key(PETER_SKEY)  # same key, other name: unknown to the note
    renamed = parse_verifier_key(sign_and_rename_key(other.verifier_key, "CarmenSandiego"))
    with pytest.raises(AuditChainBroken, match="not signed by key CarmenSandiego"):
        open_note(note, renamed)


def sign_and_rename_key(vkey: str, name: str) -> str:
    """The same public key under another name (so another key id)."""
    raw = base64.b64decode(vkey.split("+", 2)[2])
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    return f"{name}+{key_id.hex()}+{base64.b64encode(raw).decode()}"


def test_a_corrupted_known_signature_is_rejected() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(AuditChainBroken, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + bad, parse_verifier_key(PETER_VKEY))


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-character",
        "bad-name",
        "unexpected-line",
        "too-many",
    ],
)
def test_go_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(AuditChainBroken, match="malformed note"):
        open_note(note, parse_verifier_key(PETER_VKEY))


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(AuditChainBroken, match="not valid UTF-8"):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), parse_verifier_key(PETER_VKEY))


def test_every_mangling_of_the_go_verifier_key_is_refused() -> None:
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(InvalidInput):
                    parse_verifier_key(b[i:j])
    for i in range(len(b)):
        with pytest.raises(InvalidInput):
            parse_verifier_key(b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :])
    with pytest.raises(InvalidInput):  # wrong length key, with adjusted key hash
        parse_verifier_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(InvalidInput):  # unknown algorithm, with adjusted key hash
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_every_mangling_of_the_go_signer_key_is_refused() -> None:
    b = PETER_SKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)) and b[i:j].strip() != b:
                with pytest.raises(InvalidInput):
                    parse_signer_key(b[i:j])
    for i in range(len(b)):
        with pytest.raises(InvalidInput):
            parse_signer_key(b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :])


@pytest.mark.parametrize(("size", "root", "sig"), SUMDB_NOTES)
def test_real_sum_golang_org_checkpoints_verify(size: int, root: str, sig: str) -> None:
    cp = verify_checkpoint(
        sumdb_note(size, root, sig), parse_verifier_key(SUMDB_VKEY), origin="go.sum database tree"
    )
    assert cp == Checkpoint("go.sum database tree", size, base64.b64decode(root))


def test_a_real_checkpoint_with_another_size_fails() -> None:
    size, root, sig = SUMDB_NOTES[0]
    with pytest.raises(AuditChainBroken, match="invalid signature"):
        verify_checkpoint(sumdb_note(size + 1, root, sig), parse_verifier_key(SUMDB_VKEY))


def test_checkpoint_text_matches_the_go_tree_format() -> None:
    # golang.org/x/mod/sumdb/tlog note_test.go TestFormatTree.
    cp = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert cp.text() == (
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    )


# -- our keys: generation, files, round trip -------------------------------------------

NAME = "consentgate.example/audit"
ROOT = leaf_hash(b"root")


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "audit.key"
    generate_signing_key(path, name=NAME)
    return path


def test_generated_key_file_is_private_and_in_note_format(key_path: Path) -> None:
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    text = key_path.read_text()
    assert text.startswith(f"PRIVATE+KEY+{NAME}+") and text.endswith("\n")
    signer = load_signer(key_path)
    assert signer.verifier_key.startswith(f"{NAME}+{signer.key_id.hex()}+")
    encoded = text.strip().split("+", 4)[4]  # the seed's field (base64 may hold "+" too)
    seed = base64.b64decode(encoded)[1:]
    assert len(seed) == 32 and encoded not in repr(signer) and seed.hex() not in repr(signer)


def test_an_existing_key_is_never_replaced(key_path: Path) -> None:
    before = key_path.read_text()
    with pytest.raises(Conflict, match="already exists"):
        generate_signing_key(key_path, name=NAME)
    assert key_path.read_text() == before


def test_a_key_readable_by_others_is_refused(key_path: Path) -> None:
    os.chmod(key_path, 0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        load_signer(key_path)


def test_missing_and_garbage_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_signer(tmp_path / "nope.key")
    bad = tmp_path / "bad.key"
    bad.write_text("PRIVATE+KEY+x+00000000+c2VjcmV0\n")
    bad.chmod(0o600)
    with pytest.raises(InvalidInput, match=r"bad\.key: signing key is not an Ed25519 key") as info:
        load_signer(bad)
    assert "c2VjcmV0" not in str(info.value)
    bad.write_text("ssh-ed25519 AAAA\n")
    with pytest.raises(InvalidInput, match=r"bad\.key: not a signing key"):
        load_signer(bad)


@pytest.mark.parametrize("name", ["", "has space", "a+b", "tab\there"])
def test_bad_key_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="key name"):
        generate_signing_key(tmp_path / "k", name=name)
    assert not (tmp_path / "k").exists()


def test_a_non_ascii_key_name_round_trips(tmp_path: Path) -> None:
    generate_signing_key(tmp_path / "k", name="journal.exemple/clé")
    signer = load_signer(tmp_path / "k")
    note = sign_checkpoint(signer, origin="journal.exemple/clé", size=3, root=ROOT)
    assert verify_checkpoint(note, parse_verifier_key(signer.verifier_key)).size == 3


def test_round_trip(key_path: Path) -> None:
    signer = load_signer(key_path)
    note = sign_checkpoint(signer, origin=NAME, size=42, root=ROOT, extensions=["ext one"])
    verifier = parse_verifier_key(signer.verifier_key + "\n")
    cp = verify_checkpoint(note, verifier, origin=NAME)
    assert cp == Checkpoint(NAME, 42, ROOT, ("ext one",))
    assert note.count("\n— ") == 1 and note.endswith("\n")
    assert verify_checkpoint(note.encode(), verifier) == cp


@settings(max_examples=30, deadline=None)
@given(
    origin=st.text(
        st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
    ).filter(lambda s: "\n" not in s),
    size=st.integers(min_value=0, max_value=2**63),
    root=st.binary(min_size=32, max_size=32),
)
def test_round_trip_any_checkpoint(origin: str, size: int, root: bytes) -> None:
    signer = parse_signer_key(PETER_SKEY)
    note = sign_checkpoint(signer, origin=origin, size=size, root=root)
    assert verify_checkpoint(note, signer.verifier) == Checkpoint(origin, size, root)


def test_a_checkpoint_signed_with_another_key_fails(tmp_path: Path, key_path: Path) -> None:
    generate_signing_key(tmp_path / "other.key", name=NAME)
    other = load_signer(tmp_path / "other.key")
    note = sign_checkpoint(other, origin=NAME, size=1, root=ROOT)
    with pytest.raises(AuditChainBroken, match="not signed by key"):
        verify_checkpoint(note, load_signer(key_path).verifier)


def test_a_signature_claiming_our_key_id_with_another_key_fails(key_path: Path) -> None:
    ours = load_signer(key_path).verifier
    impostor = parse_signer_key(PETER_SKEY)
    forged_signer = Signer(ours.name, ours.key_id, impostor.private_key)
    note = sign_checkpoint(forged_signer, origin=NAME, size=1, root=ROOT)
    with pytest.raises(AuditChainBroken, match="invalid signature"):
        verify_checkpoint(note, ours)


def test_any_altered_byte_fails(key_path: Path) -> None:
    signer = load_signer(key_path)
    note = sign_checkpoint(signer, origin=NAME, size=1234, root=ROOT).encode()
    verifier = signer.verifier
    assert verify_checkpoint(note, verifier).size == 1234
    for i in range(len(note)):
        for bit in range(8):
            bad = bytearray(note)
            bad[i] ^= 1 << bit
            with pytest.raises(AuditChainBroken):
                verify_checkpoint(bytes(bad), verifier)
        with pytest.raises(AuditChainBroken):
            verify_checkpoint(note[:i] + note[i + 1 :], verifier)


def test_wrong_origin_fails(key_path: Path) -> None:
    signer = load_signer(key_path)
    note = sign_checkpoint(signer, origin=NAME, size=1, root=ROOT)
    with pytest.raises(AuditChainBroken, match=r"expected 'other\.example/log'"):
        verify_checkpoint(note, signer.verifier, origin="other.example/log")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("origin\n1\n", "expected an origin, a tree size and a root hash"),
        ("origin\n01\n" + base64.b64encode(ROOT).decode() + "\n", "leading zeros"),
        ("origin\n-1\n" + base64.b64encode(ROOT).decode() + "\n", "not a decimal"),
        ("origin\n١\n" + base64.b64encode(ROOT).decode() + "\n", "not a decimal"),
        ("origin\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n", "base64 of 32 bytes"),
        ("\n1\n" + base64.b64encode(ROOT).decode() + "\n", "empty origin"),
        ("o\n1\n" + base64.b64encode(ROOT).decode() + "\n\next\n", "empty extension"),
    ],
)
def test_malformed_checkpoint_bodies_are_rejected(body: str, message: str) -> None:
    signer = parse_signer_key(PETER_SKEY)
    with pytest.raises(AuditChainBroken, match=message):
        verify_checkpoint(sign_note(signer, body), signer.verifier)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": "", "size": 1, "root": ROOT}, "origin must not be empty"),
        ({"origin": "a\nb", "size": 1, "root": ROOT}, "single line"),
        ({"origin": "a\tb", "size": 1, "root": ROOT}, "control character"),
        ({"origin": "o", "size": -1, "root": ROOT}, "size must be"),
        ({"origin": "o", "size": 1, "root": b"short"}, "32 bytes"),
        ({"origin": "o", "size": 1, "root": ROOT, "extensions": [""]}, "extension line"),
    ],
)
def test_sign_checkpoint_refuses_what_cannot_be_a_checkpoint(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        sign_checkpoint(parse_signer_key(PETER_SKEY), **kwargs)  # type: ignore[arg-type]


def test_verifiers_compare_by_name_and_key_id() -> None:
    a, b = parse_verifier_key(PETER_VKEY), parse_verifier_key(PETER_VKEY)
    assert a == b and isinstance(a, Verifier)
    assert a != parse_verifier_key(ENOCH_VKEY)


def test_the_checkpoint_shown_in_the_docs_verifies() -> None:
    # docs/transparency.md §4: the tree of b"entry 0" .. b"entry 999".
    vkey = "consentgate.example/audit+1e016990+AWbnxoKD/koKjqsiakQAPxD14P0JKiu5JqRLS/pc8wgK"
    note = (
        "consentgate.example/audit\n1000\nNGxrnLicS3b6ydyyDNqG46AcCldBfBOQKOrNRTj96Vs=\n\n"
        "— consentgate.example/audit HgFpkOanfsXMj3SL8B7XGjrlORJmXgi96lFvPO646+pfWRNJGI/fK5O1uVg8"
        "unAptjkdvV/lFrDwBxRBIlmMS7j6LQw=\n"
    )
    cp = verify_checkpoint(note, parse_verifier_key(vkey), origin="consentgate.example/audit")
    tree = MerkleTree(leaf_hash(b"entry %d" % i) for i in range(1000))
    assert (cp.size, cp.root) == (1000, tree.root())
