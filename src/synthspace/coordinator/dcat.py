"""The catalog as DCAT-3 JSON-LD in the Dataspace Protocol 2025-1 catalog shape (issue 16).

A dataspace connector (e.g. Eclipse EDC) reads `GET /v1/dcat` as a DSP Catalog: the DSP
context first (`https://w3id.org/dspace/2025/1/context.jsonld`, which defines `Catalog`,
`dataset`, `hasPolicy`, `distribution`, `format`, `accessService`, `DataService`,
`endpointURL`, `participantId` and the ODRL terms), then a small inline context that only adds
prefixes (it redefines no DSP term: the DSP context's terms are protected).

Each dataset carries its usage policy from the signed lineage predicate as an ODRL `Offer`
(`synthspace.policy.to_jsonld`, with its term names replaced by compact IRIs so the offer
expands the same under any ODRL context, and without `target`: in a catalog the target is the
dataset that holds the offer), and one distribution whose download URL is the artifact's data
endpoint. Nothing is read from the blob store: a page is built from catalog rows alone.
"""

from __future__ import annotations

from typing import Any, Final

from synthspace.coordinator.models import Artifact
from synthspace.policy import JSONLD_CONTEXT, SYNTHSPACE_NS, UsagePolicy, to_jsonld

CATALOG_NS: Final = "https://synthspace.dev/catalog/v1#"
DSPACE_CONTEXT: Final = "https://w3id.org/dspace/2025/1/context.jsonld"
INLINE_CONTEXT: Final[dict[str, Any]] = {
    "ss": SYNTHSPACE_NS,
    "synth": CATALOG_NS,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "spdx": "http://spdx.org/rdf/terms#",
}
CONTEXT: Final[list[Any]] = [DSPACE_CONTEXT, INLINE_CONTEXT]
TRANSFER_FORMAT: Final = "HttpData-PULL"
PARQUET_MEDIA_TYPE: Final = "application/vnd.apache.parquet"


def _iri(term: Any) -> Any:
    """A profile term ('use', 'train', 'lteq', ...) as the compact IRI the ODRL export maps it to."""
    if isinstance(term, str) and isinstance(JSONLD_CONTEXT.get(term), str):
        return JSONLD_CONTEXT[term]
    return term


def offer(policy: UsagePolicy, *, target: str, assigner: str, space: str) -> dict[str, Any]:
    """The policy as a DSP catalog Offer (ODRL terms of the DSP context, values as IRIs)."""
    doc = to_jsonld(policy, target=target, assigner=assigner, space=space)

    def rule(r: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"action": _iri(r["action"]), "assignee": r["assignee"]}
        if r.get("constraint"):
            out["constraint"] = [
                {
                    "leftOperand": _iri(c["leftOperand"]),
                    "operator": _iri(c["operator"]),
                    "rightOperand": c["rightOperand"],
                }
                for c in r["constraint"]
            ]
        return out

    out: dict[str, Any] = {
        "@id": doc["uid"],
        "@type": "Offer",
        "assigner": doc["assigner"],
        "odrl:profile": {"@id": doc["profile"]},
        "permission": [rule(r) for r in doc["permission"]],
    }
    if doc["prohibition"]:
        out["prohibition"] = [rule(r) for r in doc["prohibition"]]
    return out


def data_service(base: str) -> dict[str, Any]:
    return {
        "@id": f"{base}/v1/artifacts",
        "@type": "DataService",
        "endpointURL": f"{base}/v1/artifacts",
        "dct:description": "synthspace catalog API (requests signed per RFC 9421)",
    }


def dataset(row: Artifact, base: str, policy: UsagePolicy) -> dict[str, Any]:
    """One artifact as a DSP Dataset with its policy offer (`policy`: the policy in force) and
    its distribution."""
    page = f"{base}/v1/artifacts/{row.artifact_id}"
    data_url = f"{page}/data"
    media = PARQUET_MEDIA_TYPE if row.kind != "model-adapter" else "application/octet-stream"
    doc: dict[str, Any] = {
        "@id": page,
        "@type": "Dataset",
        "dct:identifier": row.artifact_id,
        "dct:title": row.title,
        "dct:type": {"@id": f"synth:{row.kind}"},
        "dct:publisher": {"@id": f"{base}/orgs/{row.org_name}"},
        "dct:issued": {"@value": row.published_at.isoformat(), "@type": "xsd:dateTime"},
        "dct:license": {"@id": f"https://spdx.org/licenses/{row.license}"},
        "dcat:keyword": sorted(t.tag for t in row.tags),
        "rdfs:seeAlso": {"@id": f"{page}/croissant"},
        "hasPolicy": [
            offer(
                policy,
                target=page,
                assigner=f"{base}/orgs/{row.org_name}",
                space=base,
            )
        ],
        "distribution": [
            {
                "@type": "Distribution",
                "format": TRANSFER_FORMAT,
                "accessService": data_service(base),
                "dcat:downloadURL": {"@id": data_url},
                "dcat:accessURL": {"@id": data_url},
                "dcat:mediaType": media,
                "dcat:byteSize": {"@value": str(row.size_bytes), "@type": "xsd:nonNegativeInteger"},
                "spdx:checksum": {
                    "@type": "spdx:Checksum",
                    "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                    "spdx:checksumValue": row.subject_sha256,
                },
            }
        ],
    }
    if row.description:
        doc["dct:description"] = row.description
    if row.locale:
        doc["dct:language"] = row.locale.replace("_", "-")
    if row.record_count is not None:
        doc["synth:recordCount"] = {
            "@value": str(row.record_count),
            "@type": "xsd:nonNegativeInteger",
        }
    return doc


def catalog(rows: list[Artifact], base: str, policies: dict[str, UsagePolicy]) -> dict[str, Any]:
    """A DSP Catalog of `rows` (one page; the next page is linked from the HTTP Link header);
    `policies`: artifact id -> the policy in force."""
    return {
        "@context": CONTEXT,
        "@id": f"{base}/v1/dcat",
        "@type": "Catalog",
        "participantId": base,
        "dct:title": "synthspace catalog",
        "service": [data_service(base)],
        "dataset": [dataset(r, base, policies[r.artifact_id]) for r in rows],
    }
