"""``models/<model>/<version>/index.html``: every verified fact of one version.

Facts, metrics, the signature, golden vectors, the download link and usage snippets (see
docs/site.md for where each comes from). Escaping as in :mod:`modelreg.render.site.pages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelreg import escape
from modelreg.render import text
from modelreg.render.facts import ModelFacts, VersionFacts
from modelreg.render.site import compare
from modelreg.render.site.data import SiteData
from modelreg.render.site.pages import (
    E,
    code,
    dec,
    dl,
    envs_of,
    figure,
    figure_text,
    frame,
    metric_fields,
    status_label,
    table,
)


def io_table(ident: str, items: Sequence[Mapping[str, Any]], caption: str) -> str:
    """``<table id="inputs|outputs">``: name, type, shape."""
    rows = []
    for io in items:
        node = io.get("type")
        kind = compare.type_text(node)
        elem = str(node["tensor"]) if isinstance(node, dict) and "tensor" in node else kind
        shape = node.get("shape") if isinstance(node, dict) and "tensor" in node else None
        dims = (
            "?"
            if shape is None
            else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
        )
        rows.append(
            f'<tr data-name="{E(str(io.get("name")))}"><th scope="row">{code(io.get("name"))}</th>'
            f"<td>{code(elem)}</td><td>{code(dims)}</td></tr>\n"
        )
    return table(ident, caption, ("Name", "Type", "Shape"), rows)


def version_page(
    data: SiteData,
    m: ModelFacts,
    v: VersionFacts,
    *,
    download: str | None,
    commit: str | None,
    deploy: dict[str, str],
) -> str:
    """``models/<model>/<version>/index.html``: every verified fact of one version."""
    meta = v.meta
    onnx = meta["onnx"]
    opsets = ", ".join(f"{k} {val}" for k, val in sorted(onnx.get("opsets", {}).items()))
    producer = onnx.get("producer", {})
    envs = envs_of(data, m.name, v.version)
    facts = [
        ("version", "Version", code(v.version)),
        ("status", "Status", E(status_label(v))),
        ("release_date", "Release date", E(v.release_date)),
        ("supported_until", "Supported until", E(v.supported_until or "—")),
        ("environments", "Environments", E(", ".join(envs)) or "none"),
        ("release_tag", "Release tag", code(v.tag)),
        ("commit", "Tagged commit", code(commit) if commit else "not tagged in this clone"),
        ("artifact", "Artifact", code(v.artifact)),
        ("sha256", "sha256", code(v.sha256)),
        ("size_bytes", "Size (bytes)", f'<span data-value="{v.size}">{v.size:,}</span>'),
        ("ir_version", "ONNX IR version", E(str(onnx.get("ir_version")))),
        ("opset", "Opsets", E(opsets)),
        (
            "producer",
            "Producer",
            E(f"{producer.get('name', '')} {producer.get('version', '')}".strip()),
        ),
        ("dataset", "Training data", E(_dataset(v))),
        ("eval_path", "Evaluation data", code(v.eval_data["repo_path"])),
        ("eval_sha256", "Evaluation data sha256", code(v.eval_data["sha256"])),
        ("eval_samples", "Evaluation samples", E(str(v.eval_data.get("samples", "")))),
    ]
    figures = [
        (f, label, f'<span data-value="{dec(val)}">{E(figure_text(f, val))}</span>')
        for f, label in metric_fields(m)
        if (val := figure(v, f)) is not None
    ]
    if v.f1_average:
        figures.append(("f1_average", "F1 average", E(v.f1_average)))
    lat = v.latency
    if lat is not None:
        figures += [
            (
                "latency_p90_ms",
                "p90 latency",
                f'<span data-value="{dec(lat.p90_ms)}">{E(text.ms(lat.p90_ms))}</span>',
            ),
            (
                "latency_machine",
                "Latency machine",
                E(f"{lat.cpu}, fingerprint {lat.fingerprint}, onnxruntime {lat.onnxruntime}"),
            ),
            (
                "latency_runs",
                "Latency runs",
                E(f"{lat.runs} runs after {lat.warmup} warm-up, batch {lat.batch_size}"),
            ),
        ]
    vectors = meta.get("test_vectors", [])
    vec_rows = [
        f'<tr><th scope="row">{code(t.get("path"))}</th><td>{E(str(t.get("rtol", "")))}</td>'
        f"<td>{E(str(t.get('atol', '')))}</td></tr>\n"
        for t in vectors
        if isinstance(t, dict)
    ]
    if download is not None:
        name = E(v.artifact.rsplit("/", 1)[-1])
        link = (
            f'<p><a id="download" href="{E(download)}" download>Download {name}</a> '
            f"({v.size:,} bytes, sha256 <code>{E(v.sha256[:12])}…</code>)</p>\n"
        )
    else:
        link = (
            f'<p><a id="download">{E(v.artifact)}</a> (no download address: the repository has no '
            "GitHub remote; pass <code>--artifact-url</code>; the file is at this path in the "
            "repository)</p>\n"
        )
    body = (
        f"<h1>{E(m.title)} {E(v.label)}</h1>\n"
        f'<p class="lead">{E(v.summary)}</p>\n'
        + (f"<p>Changes: {E('; '.join(v.changes))}.</p>\n" if v.changes else "")
        + (f"<p>Migration: {E(v.migration)}</p>\n" if v.migration else "")
        + '<section aria-labelledby="facts-h">\n<h2 id="facts-h">Verified facts</h2>\n'
        + dl(facts)
        + "</section>\n"
        + '<section aria-labelledby="metrics-h">\n<h2 id="metrics-h">Metrics</h2>\n'
        + dl(figures)
        + "</section>\n"
        + '<section aria-labelledby="sig-h">\n<h2 id="sig-h">Signature</h2>\n'
        + io_table("inputs", onnx.get("inputs", []), "Inputs")
        + io_table("outputs", onnx.get("outputs", []), "Outputs")
        + "</section>\n"
        + '<section aria-labelledby="vec-h">\n<h2 id="vec-h">Golden vectors</h2>\n'
        + table(
            "vectors", "Test data sets that must reproduce", ("Directory", "rtol", "atol"), vec_rows
        )
        + "</section>\n"
        + '<section aria-labelledby="get-h">\n<h2 id="get-h">Download and use</h2>\n'
        + link
        + usage(m, v, deploy)
        + "</section>\n"
    )
    return frame(
        data,
        3,
        f"{m.name} {v.label}",
        [("Models", "../../../index.html"), (m.name, "../index.html"), (v.label, "")],
        body,
    )


def _dataset(v: VersionFacts) -> str:
    d = v.dataset
    samples = d.get("samples")
    count = f" ({int(str(samples)):,} samples)" if samples is not None else ""
    return f"{d.get('name', '')} v{d.get('version', '')}{count}"


def usage(m: ModelFacts, v: VersionFacts, deploy: dict[str, str]) -> str:
    """Shell snippets: modelreg pull, git lfs, kubectl, and what the overlay fetches."""
    word = escape.shell_word
    lines = [
        "# fetch this version's artifact (Git LFS) and prove it",
        f"modelreg pull {word(f'{m.name}@{v.version}')}",
        "",
        "# or by hand, at its release tag",
        f"git checkout {word(v.tag)}",
        f"git lfs pull --include={escape.shell_dq(v.artifact)}",
        f"echo {escape.shell_dq(f'{v.sha256}  {v.artifact}')} | sha256sum --check",
    ]
    if v.overlay:
        lines += ["", "# deploy the version overlay", f"kubectl apply -k {word(v.overlay)}"]
    snippet = "\n".join(escape.one_line(line) for line in lines)
    out = (
        '<pre class="snippet" role="region" tabindex="0" aria-label="Commands"><code>'
        f"{_html_block(snippet)}</code></pre>\n"
    )
    if deploy:
        rows = [
            f'<tr><th scope="row"><code>{E(k)}</code></th><td><code>{E(val)}</code></td></tr>\n'
            for k, val in sorted(deploy.items())
        ]
        out += (
            "<p>What the overlay's init container (<code>overlays/base/fetch-model.sh</code>) "
            "fetches: the file at <code>MODEL_PATH</code> of <code>MODEL_REF</code> from "
            "<code>MODEL_SOURCE_URL</code>, or <code>MODEL_STORAGE_URI</code> when set.</p>\n"
            + table("deploy", "Overlay settings", ("Setting", "Value"), rows)
        )
    return out


def _html_block(snippet: str) -> str:
    return "\n".join(E(line) for line in snippet.split("\n"))
