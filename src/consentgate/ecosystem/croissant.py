"""A Croissant 1.1 JSON-LD description of a dataset, with the RAI vocabulary.

Written by hand as a dict (the shape ``mlcroissant`` 1.1.1 writes, checked by it in the
tests) so that building a dataset does not need ``mlcroissant`` and its dependencies at
run time. The RAI properties (``rai:personalSensitiveInformation``,
``rai:dataCollection``, ...) say what the manifest records: the consent scope, the
owner-column treatment, redaction and the exclusion counts; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

__all__ = ["CROISSANT_NAME", "CROISSANT_VERSION", "croissant"]

CROISSANT_NAME = "croissant.json"
CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"
_FILESET = "parquet-parts"
_RECORDS = "records"

_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def _data_type(t: pa.DataType) -> tuple[str, bool]:
    """(schema.org type, is an array) of an Arrow column type."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _data_type(t.value_type)[0], True
    if pa.types.is_dictionary(t):
        return _data_type(t.value_type)
    if pa.types.is_timestamp(t):
        return "sc:DateTime", False
    if pa.types.is_boolean(t):
        return "sc:Boolean", False
    if pa.types.is_integer(t):
        return "sc:Integer", False
    if pa.types.is_floating(t):
        return "sc:Float", False
    return "sc:Text", False


def _field(name: str, t: pa.DataType) -> dict[str, Any]:
    data_type, is_array = _data_type(t)
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{_RECORDS}/{name}",
        "name": name,
        "dataType": data_type,
        "source": {"fileSet": {"@id": _FILESET}, "extract": {"column": name}},
    }
    if is_array:
        field["isArray"] = True
        field["arrayShape"] = "-1"
    return field


def personal_information(manifest: Mapping[str, Any]) -> list[str]:
    """What personal and sensitive information the dataset holds, per the manifest."""
    owners = manifest.get("owner_columns") or {}
    treatment = owners.get("treatment", "member ids")
    columns = ", ".join(owners.get("columns", ["author_id", "recipient_ids"]))
    notes = [
        f"Owner columns ({columns}): {treatment}"
        + (f" ({owners['method']})" if owners.get("method") else "")
        + "."
    ]
    if "redaction" in manifest:
        found = ", ".join(manifest["redaction"].get("names_found_by", []))
        counts = manifest.get("redactions") or {}
        done = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none found"
        notes.append(
            "Free text redacted with the recorded profile (sha256 "
            f"{manifest['redaction']['profile_sha256']}); names found by {found or 'rules'}; "
            f"redactions by entity: {done}."
        )
    else:
        notes.append("Free text was NOT redacted (first-party build with --no-redact).")
    sensitive = {
        k: v
        for k, v in (manifest.get("counts", {}).get("excluded") or {}).items()
        if k.startswith("sensitive_content:") and v
    }
    if sensitive:
        notes.append(
            "Records excluded for sensitive content: "
            + ", ".join(f"{k.split(':', 1)[1]}: {v}" for k, v in sorted(sensitive.items()))
            + "."
        )
    return notes


def consent_basis(manifest: Mapping[str, Any]) -> str:
    """How the records were selected: the consent rule the gate applied."""
    counts = manifest["counts"]
    excluded = ", ".join(f"{k}: {v}" for k, v in sorted(counts["excluded"].items()) if v)
    return (
        f"Records of the provider's own members, selected by consentgate for the use "
        f"{manifest['use']!r} and recipient {manifest['recipient']!r}: every owner of a "
        f"record (author and each recipient) had effective consent at the cutoff "
        f"{manifest['as_of']} and at the build time, under policy versions "
        f"{', '.join(manifest['policy_versions'])} (consent snapshot sha256 "
        f"{manifest['snapshot_sha256']}). {counts['included']} of {counts['input']} "
        f"records included; excluded by reason: {excluded or 'none'}. Included record ids "
        f"are committed to by records_root {manifest['records_root']}."
    )


def croissant(
    manifest: Mapping[str, Any], schema: pa.Schema, *, name: str | None = None
) -> dict[str, Any]:
    """The Croissant 1.1 JSON-LD document of a dataset (paths relative to its directory)."""
    dataset_id = str(manifest["dataset_id"])
    title = name or f"consentgate-{dataset_id[:12]}"
    doc: dict[str, Any] = {
        "@context": _CONTEXT,
        "@type": "sc:Dataset",
        "name": title,
        "description": (
            f"Training dataset {dataset_id} built through consentgate for "
            f"{manifest['use']} by {manifest['recipient']}, as of {manifest['as_of']}."
        ),
        "conformsTo": CROISSANT_VERSION,
        "citeAs": f"consentgate dataset {dataset_id}",
        "identifier": dataset_id,
        "version": "1.0.0",
        "datePublished": str(manifest.get("built_at", manifest["as_of"])),
        "url": f"urn:consentgate:dataset:{dataset_id}",
        "license": "https://spdx.org/licenses/LicenseRef-proprietary",
        "rai:dataCollection": consent_basis(manifest),
        "rai:dataCollectionType": ["Platform content of consenting members"],
        "rai:dataUseCases": [str(manifest["use"])],
        "rai:personalSensitiveInformation": personal_information(manifest),
        "rai:dataLimitations": (
            "Only records whose every owner consented are present; the dataset is not a "
            "sample of all members and may under-represent those who did not consent."
        ),
        "distribution": [
            {
                "@type": "cr:FileSet",
                "@id": _FILESET,
                "name": _FILESET,
                "encodingFormat": "application/x-parquet",
                "includes": "data/*.parquet",
            }
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": _RECORDS,
                "name": _RECORDS,
                "field": [_field(f.name, f.type) for f in schema],
            }
        ],
    }
    return doc
