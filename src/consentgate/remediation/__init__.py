"""Remediation: what a withdrawal, a denial after consent or an erasure sets in motion.

DESIGN.md's lineage member → record → dataset → model → recipient, run backwards. The
pure parts live here:

* ``deadlines`` — when each piece of work is due (30 days for GDPR erasure and withdrawal,
  15 business days for a US opt-out of sharing; configurable) and its legal basis;
* ``orders`` — which datasets, model shards and recipients a request reaches, batched so
  that many withdrawals touching one shard give one order;
* ``notices`` — the signed deletion notice sent to a third party, with pseudonymous
  record references;
* ``datasets`` — a new dataset version filtered from the old one's Parquet parts
  (Arrow and files, no database);
* ``dsar`` — the member's access report rendered as a self-contained HTML page.

The database side is ``consentgate.store.remediation``; the use cases (and the CLI's
``models``, ``disclose``, ``remediation``, ``remediate``, ``retrain``, ``notices`` and
``report dsar``) are in ``consentgate.workspace``. Importing this package stays light:
import the submodules you need.
"""
