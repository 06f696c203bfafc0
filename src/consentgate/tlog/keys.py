"""The log key's history: rotation statements, and the chain of keys they vouch for.

A ledger has one log key at a time. Rotating it appends a statement, signed by **both**
the old and the new key (so each vouches for the other), to the audit log::

    consentgate.key-rotation/v1
    origin consentgate/c0b653d18f1ba4fe
    old consentgate/c0b653d18f1ba4fe+8dccd1c0+AePw…
    new consentgate/c0b653d18f1ba4fe+1d2e3f40+AbCd…
    at 2025-01-31T12:00:00Z

``key_chain`` checks the statements in order from the ledger's first key and returns
every key the log has had, so checkpoints signed before a rotation stay verifiable; a
verifier that trusts any one key of the chain can follow it to all the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog.checkpoint import Signer, Verifier, parse_verifier_key, sign_note
from consentgate.tlog.note import open_note, with_signatures
from consentgate.tlog.statements import parse_statement, statement_text

__all__ = ["ROTATION_STATEMENT", "key_chain", "rotation_statement", "verify_rotation"]

ROTATION_STATEMENT = "consentgate.key-rotation/v1"
_FIELDS = ("origin", "old", "new", "at")


def rotation_statement(old: Signer, new: Signer, *, origin: str, at: str) -> str:
    """The rotation statement from ``old`` to ``new``, signed by both."""
    if old.verifier_key == new.verifier_key:
        raise InvalidInput("the new log key is the current one")
    text = statement_text(
        ROTATION_STATEMENT,
        [("origin", origin), ("old", old.verifier_key), ("new", new.verifier_key), ("at", at)],
    )
    by_new = sign_note(new, text)
    return with_signatures(sign_note(old, text), [by_new[len(text) + 1 :].rstrip("\n")])


def verify_rotation(statement: str, *, previous: Verifier, origin: str) -> Verifier:
    """Check one rotation statement from ``previous``; return the new key."""
    try:
        opened = open_note(statement, [previous])
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"key rotation statement: {exc}") from exc
    fields = parse_statement(opened.text, ROTATION_STATEMENT, _FIELDS)
    if not opened.signed_by or fields["old"] != previous.key:
        raise AuditChainBroken(
            f"key rotation statement is not signed by the previous key "
            f"{previous.name}+{previous.key_id.hex()}"
        )
    if fields["origin"] != origin:
        raise AuditChainBroken("key rotation statement is for another log")
    try:
        new = parse_verifier_key(fields["new"])
    except InvalidInput as exc:
        raise AuditChainBroken(f"key rotation statement: new key: {exc}") from exc
    if not open_note(statement, [new]).signed_by:
        raise AuditChainBroken(
            f"key rotation statement is not signed by the new key {new.name}+{new.key_id.hex()}"
        )
    return new


def key_chain(first: str, statements: Sequence[str], *, origin: str) -> list[Verifier]:
    """Every key of the log, oldest first: ``first`` (a verifier key), then the new key
    of each rotation statement, each checked against the key before it."""
    chain = [parse_verifier_key(first)]
    for statement in statements:
        chain.append(verify_rotation(statement, previous=chain[-1], origin=origin))
    return chain
