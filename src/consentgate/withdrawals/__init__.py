"""Use cases for what a withdrawal sets in motion: models, disclosures, remediation orders,
dataset remediation, model retraining, deletion notices, and the member's access report.

Like ``workspace`` and ``builds``, these take an engine and values and return values; the
CLI renders them. Orders are opened by the consent ledger itself (``workspace`` calls
``store.remediation.open_for_events`` in the transaction that stores the events); the
functions here do the work and close them.

One module per use case: ``models`` (register, train, list), ``retraining``,
``disclosures``, ``orders`` (deadline rules, listing, policy changes), ``datasets``
(remediate), ``notices`` (send, list, acknowledge) and ``access_report`` (DSAR); ``files``
holds what they share about registered datasets on disk.
"""

from consentgate.withdrawals.access_report import dsar
from consentgate.withdrawals.datasets import Remediated, fresh_snapshot, remediate
from consentgate.withdrawals.disclosures import disclose, list_disclosures
from consentgate.withdrawals.models import UNLEARNING, list_models, register_model, train_model
from consentgate.withdrawals.notices import (
    SentNotice,
    acknowledge_notice,
    list_notices,
    send_notices,
)
from consentgate.withdrawals.orders import list_orders, open_for_policy, rules_from
from consentgate.withdrawals.retraining import Retrained, retrain
from consentgate.workspace import Clock

__all__ = [
    "UNLEARNING",
    "Clock",
    "Remediated",
    "Retrained",
    "SentNotice",
    "acknowledge_notice",
    "disclose",
    "dsar",
    "fresh_snapshot",
    "list_disclosures",
    "list_models",
    "list_notices",
    "list_orders",
    "open_for_policy",
    "register_model",
    "remediate",
    "retrain",
    "rules_from",
    "send_notices",
    "train_model",
]
