"""The transparency log as C2SP formats: pure code, no database, files or network.

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

Adapters (HTTP, files, the ledger) live outside this package. docs/transparency.md
describes every byte.
"""
