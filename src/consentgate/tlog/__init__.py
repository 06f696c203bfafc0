"""The transparency log: the audit chain, its Merkle tree, checkpoints, consent receipts,
dataset membership proofs and the C2SP formats they travel in.

Pure modules (no database, no network; the contract "Core stays pure" checks it):

* ``audit`` — the hash-chained audit entries that commit to every audited row;
* ``merkle`` — RFC 9162 Merkle trees: roots, inclusion and consistency proofs;
* ``checkpoint`` — signed checkpoints (C2SP signed notes, Ed25519), key files;
* ``receipts`` — checking the log against its checkpoints, and consent receipts;
* ``membership`` — dataset member commitments and (non-)membership proofs;
* ``strictjson`` — the strict JSON parser for files people verify offline;

* ``subtree`` — RFC 9162 roots and proofs from any source of complete-subtree hashes
  (an in-memory tree, cached block roots, published tiles);
* ``tiles`` — the c2sp.org/tlog-tiles layout: paths, tiles, entry bundles, and proofs read
  back from them;
* ``note`` — signed notes checked against several keys (log keys, witness cosigners);
* ``witness`` — c2sp.org/tlog-witness messages and the witness's decision, and
  c2sp.org/tlog-cosignature ``cosignature/v1`` (Ed25519) keys and signatures;
* ``policy`` — c2sp.org/tlog-policy files: logs, witnesses, groups and the quorum;
* ``proof`` — c2sp.org/tlog-proof@v1 files;
* ``statements`` — what consentgate puts in a proof's extra data (consent receipts, dataset
  membership), signed by the log key, and their verification;
* ``keys`` — the log key's rotation statements.

Adapters, which never touch the ledger or the CLI:

* ``published`` — a published tiled log in a directory or behind a URL (write, read, serve);
* ``witness_client`` — submitting checkpoints to witnesses over HTTP;
* ``witness_server`` — a minimal witness (FastAPI).

The use cases that read and write the ledger (sign a checkpoint, issue a receipt, publish
the log) live in the use-case layer. docs/transparency.md describes every byte.
"""
