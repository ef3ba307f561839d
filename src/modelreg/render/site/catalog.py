"""``catalog.json``: the site's data for other tools, described by schemas/catalog.schema.json.

The same facts as the pages, with numbers as JSON numbers whose text is the metadata's
(``0.9495``: :func:`modelreg.render.facts.decimal` built them from the float's shortest repr,
which ``json`` prints again). Keys are sorted; the file is byte-identical per commit.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from modelreg.render.facts import VersionFacts
from modelreg.render.site import pages
from modelreg.render.site.data import SiteData

FORMAT_VERSION = 1
#: The ``$id`` of schemas/catalog.schema.json.
SCHEMA_ID = "urn:modelreg:schema:catalog:1"


def _number(value: Decimal | None) -> Any:
    if value is None:
        return None
    if "." not in format(value, "f"):
        return int(value)
    # facts.decimal made the Decimal from repr(float): float() gives the same shortest repr.
    return float(value)


def _version(data: SiteData, v: VersionFacts, template: str | None) -> dict[str, Any]:
    from modelreg.render.site import artifact_url  # the package imports this module

    onnx = v.meta["onnx"]
    metrics = {
        field: _number(value)
        for field, _ in (*pages.CLASSIFIER_FIELDS, *pages.REGRESSOR_FIELDS, *pages.LATENCY_FIELDS)
        if (value := pages.figure(v, field)) is not None
    }
    return {
        "version": v.version,
        "status": v.status,
        "release_date": v.release_date,
        "supported_until": v.supported_until,
        "expired": v.expired,
        "summary": v.summary,
        "note": v.note,
        "tag": v.tag,
        "commit": data.tag_commits.get(v.tag),
        "environments": pages.envs_of(data, v.model, v.version),
        "artifact": {
            "path": v.artifact,
            "sha256": v.sha256,
            "size": v.size,
            "url": artifact_url(data, template, v.model, v.version, v.artifact),
        },
        "onnx": {
            "ir_version": onnx.get("ir_version"),
            "opsets": dict(sorted(onnx.get("opsets", {}).items())),
            "producer": onnx.get("producer", {}),
            "inputs": onnx.get("inputs", []),
            "outputs": onnx.get("outputs", []),
        },
        "evaluation": {
            "path": v.eval_data["repo_path"],
            "sha256": v.eval_data["sha256"],
            "samples": v.eval_data.get("samples"),
        },
        "metrics": metrics,
        "latency_machine": (
            None
            if v.latency is None
            else {
                "fingerprint": v.latency.fingerprint,
                "cpu": v.latency.cpu,
                "onnxruntime": v.latency.onnxruntime,
            }
        ),
        "page": f"models/{v.model}/{v.version}/index.html",
    }


def render(data: SiteData, template: str | None) -> str:
    """The text of ``catalog.json``."""
    doc = {
        "schema": SCHEMA_ID,
        "format": FORMAT_VERSION,
        "commit": {
            "sha": data.commit.sha,
            "date": data.commit.date or None,
            "uncommitted": data.commit.uncommitted,
        },
        "models": [
            {
                "name": m.name,
                "title": m.title,
                "description": m.description,
                "task": m.task,
                "owners": list(m.owners),
                "labels": list(m.labels),
                "production": m.production.version if m.production else None,
                "page": f"models/{m.name}/index.html",
                "versions": [_version(data, v, template) for v in m.versions],
            }
            for m in data.models
        ],
        "live": {env: {m: list(v) for m, v in per.items()} for env, per in data.live.items()},
        "timeline": [
            {
                "env": c.env,
                "model": c.model,
                "kind": c.kind,
                "commit": c.sha,
                "date": c.date,
                "author": c.author,
                "subject": c.subject,
                "before": list(c.before),
                "after": list(c.after),
            }
            for c in data.timeline
        ],
    }
    # One line: the file is for programs (1,000 versions: ~0.9 MB instead of ~1.4 MB indented).
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"
