"""The EU AI Act Art. 53(1)(d) public summary of training content, for the parts the
ledger knows.

Follows the sections of the European Commission's "Template for the Public Summary of
Training Content for general-purpose AI models" (July 2025): 1 general information
(1.1 provider, 1.2 model, 1.3 modalities, sizes, latest acquisition date, languages),
2 data sources (2.1 public datasets, 2.2 licensed/third-party private data, 2.3 crawled
data, 2.4 user data, 2.5 synthetic data, 2.6 other), 3 data processing (3.1 respect of
reservations of rights / opt-outs, 3.2 removal of illegal content).

A field the ledger cannot know is a tri-state blank: ``{"answer": null, "status":
"needs_human_answer", "why": ...}`` — never filled by guess. A known field is ``{"answer":
..., "status": "from_ledger", "evidence": [...]}`` whose evidence names each dataset's id,
``records_root``, ``members_root`` and ``manifest_sha256`` so every number can be traced
to a registered (and logged) manifest.

Size bands are in tokens, which consentgate does not count; it counts UTF-8 bytes of the
text column. Any tokenizer whose tokens each cover at least one byte (byte-level BPE,
SentencePiece with byte fallback) yields at most one token per byte, so fewer than 10^9
bytes proves the band "Less than 1 billion tokens"; above that the band is left blank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TEMPLATE",
    "DatasetFacts",
    "render_markdown",
    "training_summary",
]

TEMPLATE = (
    "European Commission, Template for the Public Summary of Training Content for "
    "general-purpose AI models (Art. 53(1)(d) AI Act), July 2025"
)
BILLION = 10**9


@dataclass(frozen=True)
class DatasetFacts:
    """What one registered dataset contributes: its manifest, registry row and measures."""

    manifest: Mapping[str, Any]
    manifest_sha256: str
    text_bytes: int
    categories: Sequence[str]


def _blank(why: str) -> dict[str, Any]:
    return {"answer": None, "status": "needs_human_answer", "why": why}


def _known(answer: Any, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    return {"answer": answer, "status": "from_ledger", "evidence": evidence}


def _evidence(d: DatasetFacts) -> dict[str, Any]:
    m = d.manifest
    return {
        "dataset_id": m["dataset_id"],
        "records_root": m["records_root"],
        "members_root": m.get("members_root"),
        "manifest_sha256": d.manifest_sha256,
    }


def _excluded(datasets: Sequence[DatasetFacts]) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in datasets:
        for reason, n in d.manifest["counts"]["excluded"].items():
            if n:
                total[reason] = total.get(reason, 0) + int(n)
    return dict(sorted(total.items()))


def _band(text_bytes: int) -> str | None:
    return "Less than 1 billion tokens" if text_bytes < BILLION else None


def training_summary(
    model: Mapping[str, Any], datasets: Sequence[DatasetFacts], *, generated_at: str
) -> dict[str, Any]:
    """The summary document (JSON-ready) for ``model`` trained on ``datasets``."""
    evidence = [_evidence(d) for d in datasets]
    records = sum(int(d.manifest["counts"]["included"]) for d in datasets)
    text_bytes = sum(d.text_bytes for d in datasets)
    band = _band(text_bytes)
    uses = sorted({str(d.manifest["use"]) for d in datasets})
    policies = sorted({v for d in datasets for v in d.manifest["policy_versions"]})
    categories = sorted({c for d in datasets for c in d.categories})
    latest = max((str(d.manifest["as_of"]) for d in datasets), default=None)
    excluded = _excluded(datasets)
    opt_out_reasons = {k: v for k, v in excluded.items() if k in ("withdrawn", "erased")}
    return {
        "template": TEMPLATE,
        "generated_at": generated_at,
        "scope": (
            "Only the training content that passed through consentgate (data of the "
            "provider's own users); other sources must be added by the provider."
        ),
        "1_general_information": {
            "1.1_provider": {
                "name": _blank("the provider's legal name is not in the ledger"),
                "contact": _blank("not in the ledger"),
            },
            "1.2_model": {
                "name": _known(model["name"], []),
                "version": _known(model["model_id"], []),
                "date_placed_on_market": _blank("not in the ledger"),
            },
            "1.3_modalities_and_size": {
                "modalities": _known(["text"], evidence),
                "text": {
                    "records": _known(records, evidence),
                    "utf8_bytes": _known(text_bytes, evidence),
                    "size_band": _known(band, evidence)
                    if band
                    else _blank("1 billion bytes or more: the token band needs the tokenizer"),
                },
                "latest_acquisition_date": _known(latest, evidence),
                "languages": _blank("languages are not recorded in the manifests"),
            },
        },
        "2_data_sources": {
            "2.1_public_datasets": _blank("not tracked by consentgate"),
            "2.2_third_party_private_datasets": _blank("not tracked by consentgate"),
            "2.3_crawled_and_scraped": _blank("not tracked by consentgate"),
            "2.4_user_data": {
                "from_user_interactions_with_the_model": _blank(
                    "consentgate datasets hold platform content, not model prompts; the "
                    "provider must say whether prompts were also used"
                ),
                "from_other_services_of_the_provider": _known(bool(datasets), evidence),
                "services_and_categories": _known(categories, evidence),
                "modalities": _known(["text"], evidence),
                "how_consent_was_obtained": _known(
                    {
                        "uses": uses,
                        "policy_versions": policies,
                        "rule": (
                            "every owner of a record (author and each recipient) had "
                            "effective consent for the use at the cutoff and at the build "
                            "time, under the published policy versions"
                        ),
                    },
                    evidence,
                ),
                "records_included": _known(records, evidence),
                "records_excluded_by_reason": _known(excluded, evidence),
            },
            "2.5_synthetic_data": _blank("not tracked by consentgate"),
            "2.6_other_sources": _blank("not tracked by consentgate"),
        },
        "3_data_processing": {
            "3.1_opt_outs": {
                "code_of_practice_signatory": _blank("not in the ledger"),
                "measures": _known(
                    "Each record's owners' choices were checked against the consent "
                    "ledger at the cutoff and at the build time; withdrawals and erasures "
                    "recorded later open remediation orders that remove the records from "
                    "the dataset and retrain or retire the models trained on it.",
                    evidence,
                ),
                "records_excluded_for_withdrawal_or_erasure": _known(opt_out_reasons, evidence),
                "machine_readable_reservations_of_third_party_content": _blank(
                    "third-party web content is outside consentgate"
                ),
            },
            "3.2_illegal_content_removal": _blank("not tracked by consentgate"),
        },
    }


def _cell(field: Mapping[str, Any]) -> str:
    if field.get("status") == "needs_human_answer":
        return f"**[to be answered by the provider]** ({field['why']})"
    answer = field["answer"]
    if isinstance(answer, dict):
        return "; ".join(f"{k}: {v}" for k, v in answer.items()) or "none"
    if isinstance(answer, list):
        return ", ".join(map(str, answer)) or "none"
    if isinstance(answer, bool):
        return "Yes" if answer else "No"
    return str(answer)


def _walk(node: Mapping[str, Any], depth: int, lines: list[str]) -> None:
    for key, value in node.items():
        if isinstance(value, Mapping) and "status" in value:
            lines.append(f"- {key.replace('_', ' ')}: {_cell(value)}")
        elif isinstance(value, Mapping):
            lines += ["", "#" * depth + " " + key.replace("_", " ", 1).replace("_", " "), ""]
            _walk(value, depth + 1, lines)


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The summary as Markdown, section by section, blanks marked for the provider."""
    lines = [
        f"# Public summary of training content: {doc['1_general_information']['1.2_model']['version']['answer']}",
        "",
        f"Template: {doc['template']}. Generated {doc['generated_at']}.",
        "",
        doc["scope"],
    ]
    sections = {k: v for k, v in doc.items() if k[0].isdigit()}
    _walk(sections, 2, lines)
    evidence = {
        e["dataset_id"]: e for section in _fields(sections) for e in section.get("evidence", [])
    }
    lines += ["", "## Evidence", ""]
    lines += [
        f"- dataset `{e['dataset_id']}`: records_root `{e['records_root']}`, members_root "
        f"`{e['members_root']}`, manifest sha256 `{e['manifest_sha256']}`"
        for e in evidence.values()
    ]
    return "\n".join(lines) + "\n"


def _fields(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for value in node.values():
        if isinstance(value, Mapping) and "status" in value:
            out.append(value)
        elif isinstance(value, Mapping):
            out += _fields(value)
    return out
