"""``models/<model>/compare/<a>-vs-<b>.html``: two versions side by side.

Metrics with deltas, the signature diff with incompatible changes flagged (the rule is in
:mod:`modelreg.render.site.compare`), and the release tag, status and metadata diff.
"""

from __future__ import annotations

from decimal import Decimal

from modelreg.render import text
from modelreg.render.facts import ModelFacts, VersionFacts
from modelreg.render.site import compare
from modelreg.render.site.data import SiteData
from modelreg.render.site.pages import (
    CHANGED,
    E,
    code,
    dec,
    figure,
    figure_text,
    frame,
    metric_fields,
    status_label,
    table,
    url,
)


def _delta(field: str, a: Decimal, b: Decimal) -> str:
    if field in ("accuracy", "f1"):
        return text.points(b - a)
    if field.startswith("latency_"):
        return text.ms_delta(b - a)
    d = b - a
    return "±0" if d == 0 else f"{'+' if d > 0 else '-'}{text.trim(abs(d))}"


def _metric_row(field: str, label: str, a: VersionFacts, b: VersionFacts) -> str:
    cells = []
    for x in (a, b):
        val = figure(x, field)
        attrs = f'data-field="{field}" data-version="{E(x.version)}"'
        if val is None:
            cells.append(f'<td {attrs} class="num missing">—</td>')
        else:
            shown = E(figure_text(field, val))
            cells.append(f'<td {attrs} data-value="{dec(val)}" class="num">{shown}</td>')
    va, vb = figure(a, field), figure(b, field)
    delta = "—"
    if va is not None and vb is not None:
        other_machine = (
            field.startswith("latency_")
            and a.latency is not None
            and b.latency is not None
            and a.latency.fingerprint != b.latency.fingerprint
        )
        delta = "not comparable (other machine)" if other_machine else _delta(field, va, vb)
    return (
        f'<tr data-field="{field}"><th scope="row">{E(label)}</th>{"".join(cells)}'
        f'<td class="num delta">{E(delta)}</td></tr>\n'
    )


def _signature_row(row: compare.SignatureRow) -> str:
    cls = "incompatible" if row.incompatible else ("same" if row.change == "same" else "changed")
    old = code(row.old) if row.old else "—"
    new = code(row.new) if row.new else "—"
    flag = "<strong>incompatible</strong>: " if row.incompatible else ""
    return (
        f'<tr class="{cls}" data-side="{row.side}" data-name="{E(row.name)}" '
        f'data-change="{row.change}"><td>{row.side}</td>'
        f'<th scope="row"><code>{E(row.name)}</code></th><td>{old}</td><td>{new}</td>'
        f"<td>{flag}{E(row.why or 'unchanged')}</td></tr>\n"
    )


def _verdict(breaking: int, a: VersionFacts, b: VersionFacts) -> str:
    if not breaking:
        return (
            f'<p class="verdict">Signature compatible: callers of {E(a.label)} work with '
            f"{E(b.label)}.</p>\n"
        )
    return (
        f'<p class="verdict incompatible"><strong>{breaking} incompatible signature change'
        f"{'s' * (breaking != 1)}</strong>: callers of {E(a.label)} must change for "
        f"{E(b.label)}.</p>\n"
    )


def compare_page(
    data: SiteData,
    m: ModelFacts,
    a: VersionFacts,
    b: VersionFacts,
    flat: dict[str, dict[str, str]] | None = None,
) -> str:
    """``models/<model>/compare/<a>-vs-<b>.html``.

    ``flat``: version → :func:`~modelreg.render.site.compare.flatten` of its metadata, filled
    as needed, so a model's pages flatten each version once.
    """
    flat = {} if flat is None else flat
    for v in (a, b):
        if v.version not in flat:
            flat[v.version] = compare.flatten(v.meta)
    metric_rows = [_metric_row(field, label, a, b) for field, label in metric_fields(m)]
    sig = compare.signature_diff(a.meta, b.meta)
    meta_rows = [
        ("release_tag", a.tag, b.tag),
        ("status", status_label(a), status_label(b)),
        *compare.flat_diff(flat[a.version], flat[b.version]),
    ]
    diff_rows = [
        f'<tr data-key="{E(k)}"{CHANGED if x != y else ""}>'
        f'<th scope="row"><code>{E(k)}</code></th><td>{E(x)}</td><td>{E(y)}</td></tr>\n'
        for k, x, y in meta_rows
    ]
    link_a = f'<a href="{url("..", a.version, "index.html")}">{E(a.label)}</a>'
    link_b = f'<a href="{url("..", b.version, "index.html")}">{E(b.label)}</a>'
    body = (
        f"<h1>{E(m.name)}: {E(a.label)} vs {E(b.label)}</h1>\n"
        f"<p>Older: {link_a} ({E(status_label(a))}); newer: {link_b} "
        f"({E(status_label(b))}).</p>\n"
        '<section aria-labelledby="deltas-h">\n<h2 id="deltas-h">Metrics</h2>\n'
        + table(
            "metric-deltas",
            "Metrics with the change from the older to the newer version",
            ("Metric", a.label, b.label, "Change"),
            metric_rows,
        )
        + "</section>\n"
        '<section aria-labelledby="sigdiff-h">\n<h2 id="sigdiff-h">Signature</h2>\n'
        + _verdict(sum(r.incompatible for r in sig), a, b)
        + table(
            "signature-diff",
            "Inputs and outputs of both versions",
            ("Side", "Name", a.label, b.label, "Change"),
            [_signature_row(r) for r in sig],
        )
        + "</section>\n"
        '<section aria-labelledby="metadiff-h">\n<h2 id="metadiff-h">Metadata and tags</h2>\n'
        + table(
            "metadata-diff",
            "Release tags, status and every metadata field that differs",
            ("Field", a.label, b.label),
            diff_rows,
        )
        + "</section>\n"
    )
    crumbs = [
        ("Models", "../../../index.html"),
        (m.name, "../index.html"),
        (f"{a.label} vs {b.label}", ""),
    ]
    return frame(data, 3, f"{m.name} {a.label} vs {b.label}", crumbs, body)
