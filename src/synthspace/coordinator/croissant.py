"""Croissant 1.0 JSON-LD metadata of a catalog artifact (ML Commons), with the file's sha256.

The recordSet is derived from the Parquet schema when the data is a Parquet file.
"""

from __future__ import annotations

from typing import Any

from synthspace.coordinator.blobs import BlobStore
from synthspace.coordinator.models import Artifact

CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileObject": "cr:fileObject",
    "fileProperty": "cr:fileProperty",
    "format": "cr:format",
    "includes": "cr:includes",
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
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def _data_type(arrow_type: Any) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_boolean(t):
        return "sc:Boolean"
    if pa.types.is_integer(t):
        return "sc:Integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "sc:Float"
    if pa.types.is_timestamp(t):
        return "sc:DateTime"
    if pa.types.is_date(t):
        return "sc:Date"
    return "sc:Text"


def _fields(
    blobs: BlobStore, row: Artifact, file_id: str, record_set_id: str
) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with blobs.open(row.subject_sha256) as fh:
            schema = pq.read_schema(fh)
    except (pa.ArrowException, OSError, ValueError):
        return []
    fields = []
    for f in schema:
        if f.name.startswith("_"):
            continue  # node-private columns never ship, but be safe
        item: dict[str, Any] = {
            "@type": "cr:Field",
            "@id": f"{record_set_id}/{f.name}",
            "name": f.name,
            "dataType": _data_type(f.type.value_type if pa.types.is_list(f.type) else f.type),
            "source": {"fileObject": {"@id": file_id}, "extract": {"column": f.name}},
        }
        if pa.types.is_list(f.type):
            item["repeated"] = True
        fields.append(item)
    return fields


def croissant_for(blobs: BlobStore, row: Artifact, data_url: str, page_url: str) -> dict[str, Any]:
    """Croissant JSON-LD for `row`; `data_url` is where the file downloads from."""
    file_id = row.subject_name or "data"
    is_parquet = row.kind in ("dataset", "derived-dataset")
    doc: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": row.title,
        "description": row.description or row.title,
        "url": page_url,
        "license": row.license,
        "creator": {"@type": "sc:Organization", "name": row.org_name},
        "datePublished": row.published_at.isoformat(),
        "keywords": sorted(t.tag for t in row.tags),
        "identifier": row.artifact_id,
        "version": "1.0.0",
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": file_id,
                "name": file_id,
                "contentUrl": data_url,
                "contentSize": f"{row.size_bytes} B",
                "encodingFormat": "application/x-parquet"
                if is_parquet
                else "application/octet-stream",
                "sha256": row.subject_sha256,
            }
        ],
    }
    if row.locale:
        doc["inLanguage"] = row.locale.replace("_", "-")
    if is_parquet:
        rs_id = "records"
        fields = _fields(blobs, row, file_id, rs_id)
        if fields:
            doc["recordSet"] = [
                {"@type": "cr:RecordSet", "@id": rs_id, "name": rs_id, "field": fields}
            ]
    return doc
