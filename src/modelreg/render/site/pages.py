"""The frame every page shares, the index and the model pages; the helpers of all pages.

Version pages are in :mod:`~modelreg.render.site.versionpage`, compare pages in
:mod:`~modelreg.render.site.comparepage`.

Every value from the registry goes through :func:`modelreg.escape.html` (text and quoted
attributes) and every link target through :func:`modelreg.escape.link_url`, so a name or a
description cannot become markup or a ``javascript:`` link. Links are relative and end in a
file name (``.../index.html``): the site works from ``file://`` and under any sub-path.
The element ids and ``data-*`` attributes are a contract with the browser tests and with
``site.js`` (docs/site.md lists them).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from decimal import Decimal

from modelreg import escape
from modelreg.render import text
from modelreg.render.facts import ModelFacts, VersionFacts
from modelreg.render.page import NOT_MEASURED, STATUS_MARK
from modelreg.render.site import svg
from modelreg.render.site.data import SiteData

#: escape.html, remembered: the same names, versions and labels are escaped thousands of times.
E = functools.lru_cache(maxsize=1 << 16)(escape.html)
CHANGED = ' class="changed"'


def url(*parts: str) -> str:
    """A relative URL from path segments, each percent-encoded, as an attribute value."""
    return E("/".join(escape.link_url(p, safe="") if p != ".." else p for p in parts))


def dec(value: Decimal) -> str:
    """The exact text of a metadata number (``0.9495``, ``12``)."""
    return format(value, "f")


# -- the frame every page shares ------------------------------------------------------------


def frame(
    data: SiteData, depth: int, title: str, crumbs: Sequence[tuple[str, str]], body: str
) -> str:
    """A whole page: head, skip link, header with breadcrumbs and toggle, main, footer."""
    up = "../" * depth
    nav = ' <span aria-hidden="true">/</span> '.join(
        f'<a href="{href}">{E(label)}</a>'
        if href
        else f'<span aria-current="page">{E(label)}</span>'
        for label, href in crumbs
    )
    sha = E(data.commit.sha)
    when = f" ({E(data.commit.date)})" if data.commit.date else ""
    if data.commit.uncommitted:
        n = data.commit.uncommitted
        when += (
            f', <strong class="dirty">plus {n} uncommitted change{"s" * (n != 1)} in '
            "models/ or overlays/</strong>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{E(title)} · model registry</title>\n"
        f'<link rel="icon" href="{up}favicon.svg" type="image/svg+xml">\n'
        f'<link rel="stylesheet" href="{up}site.css">\n'
        f'<script src="{up}site.js" defer></script>\n'
        "</head>\n<body>\n"
        '<a class="skip" href="#main">Skip to content</a>\n'
        '<header class="top">\n'
        f'<nav aria-label="Breadcrumb">{nav}</nav>\n'
        '<button id="theme-toggle" type="button" hidden>Dark theme</button>\n'
        "</header>\n"
        f'<main id="main">\n{body}</main>\n'
        "<footer>\n"
        f'<p>Built by <code>modelreg render --site</code> from commit <code data-commit="{sha}">'
        f"{sha}</code>{when}. Every figure is from the registry's metadata, checked by "
        "<code>modelreg validate</code>.</p>\n"
        "</footer>\n</body>\n</html>\n"
    )


def table(
    ident: str,
    caption: str,
    head: Sequence[str],
    rows: Iterable[str],
    *,
    sortable: bool = False,
) -> str:
    """A table with a caption and column headers; ``rows`` are ready ``<tr>`` elements.

    The table scrolls sideways in its own box on a narrow screen; the box is focusable and
    named by the caption, so a keyboard user can scroll it too (axe scrollable-region-focusable).
    """
    ths = "".join(
        f'<th scope="col" aria-sort="none"><button type="button">{E(h)}</button></th>'
        if sortable
        else f'<th scope="col">{E(h)}</th>'
        for h in head
    )
    return (
        f'<div class="scroll" role="region" tabindex="0" aria-labelledby="{ident}-caption">'
        f'<table id="{ident}">\n<caption id="{ident}-caption">{caption}</caption>\n'
        f"<thead><tr>{ths}</tr></thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table></div>\n"
    )


def dl(items: Iterable[tuple[str, str, str]]) -> str:
    """``<dl>`` of ``(field, label, html value)``; each ``<dd data-field>``."""
    inner = "".join(
        f'<dt>{E(label)}</dt><dd data-field="{E(field)}">{value}</dd>\n'
        for field, label, value in items
    )
    return f'<dl class="facts">\n{inner}</dl>\n'


def code(value: object) -> str:
    return f"<code>{E(str(value))}</code>"


# -- figures --------------------------------------------------------------------------------

#: (field, column heading) of the figures in a version row, in order.
CLASSIFIER_FIELDS = (("accuracy", "Accuracy"), ("f1", "F1"))
REGRESSOR_FIELDS = (("r2", "R²"), ("rmse", "RMSE"), ("mae", "MAE"))
LATENCY_FIELDS = (("latency_p50_ms", "p50 latency"), ("latency_p99_ms", "p99 latency"))


def figure(v: VersionFacts, field: str) -> Decimal | None:
    """One figure of a version, as in its metadata (None: not measured, or another kind)."""
    if field == "accuracy":
        return v.accuracy
    if field == "f1":
        return v.f1
    if field in ("r2", "rmse", "mae"):
        return v.regression[field] if v.regression is not None else None
    if v.latency is None:
        return None
    return v.latency.p50_ms if field == "latency_p50_ms" else v.latency.p99_ms


def figure_text(field: str, value: Decimal) -> str:
    """How a figure is shown: percentages for scores, milliseconds for latency."""
    if field in ("accuracy", "f1"):
        return text.percent(value)
    if field.startswith("latency_"):
        return text.ms(value)
    return text.trim(value)


def figure_cell(v: VersionFacts, field: str) -> str:
    """``<td data-field data-value>``; an unmeasured figure has no data-value."""
    value = figure(v, field)
    if value is None:
        missing = NOT_MEASURED if field.startswith("latency_") else "—"
        return f'<td data-field="{field}" class="num missing">{missing}</td>'
    return (
        f'<td data-field="{field}" data-value="{dec(value)}" class="num">'
        f"{E(figure_text(field, value))}</td>"
    )


def metric_fields(m: ModelFacts) -> tuple[tuple[str, str], ...]:
    """The figure columns of a model: its kind's scores, then latency."""
    regressor = any(v.regression is not None for v in m.versions)
    classifier = any(v.accuracy is not None for v in m.versions)
    fields: tuple[tuple[str, str], ...] = ()
    if classifier:
        fields += CLASSIFIER_FIELDS
    if regressor:
        fields += REGRESSOR_FIELDS
    return fields + LATENCY_FIELDS


def headline(m: ModelFacts) -> tuple[str, Decimal] | None:
    """The index's headline metric: accuracy (or R²) of production, else of the newest."""
    v = m.production or m.newest
    if v.accuracy is not None:
        return "accuracy", v.accuracy
    if v.regression is not None:
        return "r2", v.regression["r2"]
    return None


def status_label(v: VersionFacts) -> str:
    """``Production``, ``Supported (expired)``, ..."""
    word = STATUS_MARK[v.status].split(" ", 1)[1]
    return f"{word} (expired)" if v.expired and v.status == "supported" else word


def envs_of(data: SiteData, model: str, version: str | None = None) -> list[str]:
    """Environments deploying ``model`` (the given version, or any)."""
    return [
        env
        for env, per in data.live.items()
        if model in per and (version is None or version in per[model])
    ]


def version_link(model: str, version: str, depth_to_models: str) -> str:
    """``<a>`` to a version page, text ``1.1.0``; ``depth_to_models`` leads to ``models/``."""
    href = E(depth_to_models) + url(model, version, "index.html")
    return f'<a href="{href}">{E(version)}</a>'


def compare_name(a: str, b: str) -> str:
    """``1.0.0-vs-1.1.0.html``."""
    return f"{a}-vs-{b}.html"


def compare_pairs(m: ModelFacts) -> list[tuple[VersionFacts, VersionFacts]]:
    """Production against every other version, and each version against the next; sorted."""
    pairs: set[tuple[str, str]] = set()
    by_name = {v.version: v for v in m.versions}
    prod = m.production
    for older, newer in zip(m.versions, m.versions[1:], strict=False):
        pairs.add((older.version, newer.version))
    if prod is not None:
        for v in m.versions:
            if v is prod:
                continue
            lower, upper = (v, prod) if m.versions.index(v) < m.versions.index(prod) else (prod, v)
            pairs.add((lower.version, upper.version))
    order = {v.version: i for i, v in enumerate(m.versions)}
    return [
        (by_name[a], by_name[b]) for a, b in sorted(pairs, key=lambda p: (order[p[0]], order[p[1]]))
    ]


# -- index ----------------------------------------------------------------------------------


def index(data: SiteData) -> str:
    """``index.html``: every model, filterable and sortable, and the live-where matrix."""
    rows = []
    for m in data.models:
        envs = envs_of(data, m.name)
        statuses = sorted({v.status for v in m.versions})
        tags = " ".join(v.tag for v in m.versions)
        prod = m.production
        staging = data.live.get("staging", {}).get(m.name, ())
        head = headline(m)
        head_cell = (
            f'<td data-field="{head[0]}" data-value="{dec(head[1])}" class="num">'
            f"{E(head[0])} {E(figure_text(head[0], head[1]))}</td>"
            if head
            else '<td class="missing">—</td>'
        )
        rows.append(
            f'<tr data-model="{E(m.name)}" data-owner="{E(" ".join(m.owners))}" '
            f'data-task="{E(m.task)}" data-status="{E(" ".join(statuses))}" '
            f'data-envs="{E(" ".join(envs))}" data-tags="{E(tags)}">'
            f'<th scope="row"><a href="{url("models", m.name, "index.html")}">{E(m.name)}</a></th>'
            f"<td>{E(m.title)}</td><td>{E(m.task)}</td>"
            f"<td>{E(', '.join(m.owners))}</td>"
            f"<td>{version_link(m.name, prod.version, 'models/') if prod else '—'}</td>"
            f"<td>{', '.join(version_link(m.name, s, 'models/') for s in staging) or '—'}</td>"
            f"<td>{version_link(m.name, m.newest.version, 'models/')}</td>"
            f"{head_cell}"
            f"<td>{E(', '.join(envs)) or '—'}</td></tr>\n"
        )
    heads = (
        "Name", "Title", "Task", "Owners", "Production", "Staging", "Newest", "Headline metric",
        "Environments",
    )  # fmt: skip
    n = len(data.models)
    versions = sum(len(m.versions) for m in data.models)
    body = (
        "<h1>Model registry</h1>\n"
        f"<p>{n:,} model{'s' * (n != 1)}, {versions:,} version{'s' * (versions != 1)}. "
        'Data for other tools: <a href="catalog.json">catalog.json</a>.</p>\n'
        '<section aria-labelledby="models-h">\n<h2 id="models-h">Models</h2>\n'
        '<p class="filter"><label for="filter">Filter models</label> '
        '<input id="filter" type="search" autocomplete="off" '
        'aria-describedby="filter-help filter-count">'
        '<span id="filter-help" class="hint">name, owner, task, status, environment or tag; '
        "all words must match</span> "
        '<output id="filter-count" aria-live="polite"></output></p>\n'
        + table(
            "models",
            "Every model: click a column heading to sort",
            heads,
            rows,
            sortable=True,
        )
        + "</section>\n"
        + live_matrix(data)
        + timeline_section(data, None)
    )
    return frame(data, 0, "Models", [("Models", "")], body)


def live_matrix(data: SiteData) -> str:
    """``<table id="live">``: environment by model → the versions the overlay deploys."""
    envs = list(data.live)
    if not envs:
        return (
            '<section aria-labelledby="live-h">\n<h2 id="live-h">Live where</h2>\n'
            "<p>No environment overlays (<code>overlays/&lt;env&gt;/</code>) in this registry."
            "</p>\n</section>\n"
        )
    rows = []
    for m in data.models:
        cells = []
        for env in envs:
            versions = data.live[env].get(m.name, ())
            links = ", ".join(version_link(m.name, v, "models/") for v in versions)
            cells.append(f'<td data-env="{E(env)}" data-model="{E(m.name)}">{links}</td>')
        rows.append(
            f'<tr><th scope="row"><a href="{url("models", m.name, "index.html")}">'
            f"{E(m.name)}</a></th>{''.join(cells)}</tr>\n"
        )
    return (
        '<section aria-labelledby="live-h">\n<h2 id="live-h">Live where</h2>\n'
        "<p>What each environment overlay (<code>overlays/&lt;env&gt;/kustomization.yaml</code>) "
        "deploys at this commit.</p>\n"
        + table("live", "Deployed version per environment and model", ["Model", *envs], rows)
        + "</section>\n"
    )


#: The index shows the newest environment changes only (each model page has all of its own,
#: catalog.json has every one), so the index stays small with a long history.
INDEX_HISTORY = 50


def timeline_section(data: SiteData, model: str | None) -> str:
    """``<ol id="timeline">`` of environment changes, newest first (one model, or all)."""
    changes = [c for c in data.timeline if model is None or c.model == model]
    shown = changes if model is not None else changes[:INDEX_HISTORY]
    items = []
    for c in shown:
        before = ", ".join(f"v{b}" for b in c.before) or "nothing"
        after = ", ".join(f"v{a}" for a in c.after) or "nothing"
        who = (
            ""
            if model is not None
            else f'<a href="{url("models", c.model, "index.html")}">{E(c.model)}</a>: '
        )
        items.append(
            f'<li data-commit="{E(c.sha)}" data-env="{E(c.env)}" data-model="{E(c.model)}" '
            f'data-kind="{c.kind}"><span class="kind kind-{c.kind}">{E(c.kind)}</span> '
            f"<strong>{E(c.env)}</strong> {who}{E(before)} → {E(after)} "
            f'<time datetime="{E(c.date)}">{E(c.date.replace("T", " "))}</time> '
            f"by {E(c.author)}, commit <code>{E(c.sha[:12])}</code>: {E(c.subject)}</li>\n"
        )
    ident = "timeline-h"
    intro = (
        "<p>From <code>git log</code> of <code>overlays/&lt;env&gt;/kustomization.yaml</code>: "
        "every commit that changed what an environment deploys, newest first.</p>\n"
    )
    if len(shown) < len(changes):
        intro += (
            f"<p>The newest {len(shown)} of {len(changes)} changes; each model page lists all "
            'of its own, and <a href="catalog.json">catalog.json</a> every one.</p>\n'
        )
    tail = "" if items else "<p>No changes recorded in git.</p>\n"
    return (
        f'<section aria-labelledby="{ident}">\n<h2 id="{ident}">Environment history</h2>\n'
        f'{intro}<ol id="timeline">\n{"".join(items)}</ol>\n{tail}</section>\n'
    )


# -- model page -----------------------------------------------------------------------------


def model_page(data: SiteData, m: ModelFacts, version_commits: dict[str, str | None]) -> str:
    """``models/<model>/index.html``: card, versions, trends, history, comparisons, guide."""
    fields = metric_fields(m)
    rows = []
    for v in reversed(m.versions):
        envs = envs_of(data, m.name, v.version)
        machine = f"{v.latency.cpu} ({v.latency.fingerprint})" if v.latency else NOT_MEASURED
        commit = version_commits.get(v.version)
        cls = f' class="status-{v.status}"'
        rows.append(
            f'<tr data-version="{E(v.version)}" data-status="{v.status}"{cls}>'
            f'<th scope="row"><a href="{url(v.version, "index.html")}">{E(v.label)}</a></th>'
            f'<td data-field="release_date">{E(v.release_date)}</td>'
            + "".join(figure_cell(v, f) for f, _ in fields)
            + f"<td>{E(machine)}</td>"
            f'<td data-field="release_tag"><code>{E(v.tag)}</code></td>'
            f'<td data-field="status">{E(status_label(v))}</td>'
            f'<td data-field="supported_until">{E(v.supported_until or "—")}</td>'
            f"<td>{E(', '.join(envs)) or '—'}</td>"
            f'<td data-field="commit">{code(commit[:12]) if commit else "untagged"}</td>'
            f'<td data-field="eval_sha256"><code>{E(str(v.eval_data["sha256"])[:12])}</code></td>'
            f"<td>{E(v.note or v.summary)}</td></tr>\n"
        )
    heads = [
        "Version", "Date", *(h for _, h in fields), "Latency machine", "Release tag", "Status",
        "Supported until", "Environments", "Tagged commit", "Eval data sha256", "Notes",
    ]  # fmt: skip
    prod = m.production
    card = dl(
        [
            ("name", "Name", f"<code>{E(m.name)}</code>"),
            ("task", "Task", E(m.task)),
            ("owners", "Owners", E(", ".join(m.owners))),
            ("labels", "Labels (output order)", E(", ".join(m.labels))),
            (
                "production",
                "Production",
                version_link(m.name, prod.version, "../") if prod else "none",
            ),
            ("newest", "Newest", version_link(m.name, m.newest.version, "../")),
            ("gates", "Promotion gates (model.yaml)", gates_text(m)),
        ]
    )
    body = (
        f"<h1>{E(m.title)} <small><code>{E(m.name)}</code></small></h1>\n"
        f'<p class="lead">{E(m.description)}</p>\n{card}'
        '<section aria-labelledby="versions-h">\n<h2 id="versions-h">Versions</h2>\n'
        + table("versions", f"Every version of {E(m.name)}, newest first", heads, rows)
        + "</section>\n"
        + trends(data, m, fields)
        + compare_links(m)
        + timeline_section(data, m.name)
        + selection_guide(m)
    )
    return frame(data, 2, m.title, [("Models", "../../index.html"), (m.name, "")], body)


def gates_text(m: ModelFacts) -> str:
    """``min_accuracy 0.9, max_p99_regression 0.1`` (HTML), or ``none``."""
    if not m.gates:
        return "none"
    return ", ".join(f"{code(k)} {E(str(v))}" for k, v in sorted(m.gates.items()))


def trends(data: SiteData, m: ModelFacts, fields: Sequence[tuple[str, str]]) -> str:
    """One SVG chart per figure the model has."""
    charts = []
    for field, label in fields:
        points = []
        for v in m.versions:
            value = figure(v, field)
            if value is None:
                continue
            marks = tuple(
                c
                for c in ("production", "staging")
                if c == v.status or c in envs_of(data, m.name, v.version)
            )
            points.append(svg.Point(v.version, value, dec(value), marks))
        chart = svg.chart(field, label, points)
        if chart:
            charts.append(
                f'<figure class="chart">{chart}<figcaption>{E(label)}</figcaption></figure>\n'
            )
    legend = (
        '<p class="legend"><span class="swatch production" aria-hidden="true"></span> production '
        '<span class="swatch staging" aria-hidden="true"></span> staging '
        '<span class="swatch other" aria-hidden="true"></span> other versions</p>\n'
    )
    return (
        '<section aria-labelledby="trends-h">\n<h2 id="trends-h">Trends</h2>\n'
        + legend
        + f'<div class="charts">\n{"".join(charts)}</div>\n'
        + "</section>\n"
    )


def compare_links(m: ModelFacts) -> str:
    """Links to every compare page of the model."""
    items = [
        f'<li><a href="{url("compare", compare_name(a.version, b.version))}">'
        f"{E(a.label)} vs {E(b.label)}</a></li>"
        for a, b in compare_pairs(m)
    ]
    if not items:
        return ""
    return (
        '<section aria-labelledby="compare-h">\n<h2 id="compare-h">Compare versions</h2>\n'
        f'<ul class="compare-links">{"".join(items)}</ul>\n</section>\n'
    )


def selection_guide(m: ModelFacts) -> str:
    """Which version to use for what (the registry page's guide, as HTML)."""
    rows = []
    prod = m.production
    if prod is not None:
        rows.append(("New deployments", prod, "Production version"))
        rows.append(("Production updates", prod, prod.migration or "See the version details"))
    for v in reversed(m.versions):
        if v.status == "supported":
            rows.append(
                (
                    "Legacy systems",
                    v,
                    f"Supported until {v.supported_until}" + (" (expired)" if v.expired else ""),
                )
            )
    what = "Newest version" + ("" if m.newest.status == "production" else f" ({m.newest.status})")
    rows.append(("Development/testing", m.newest, what))
    for v in m.versions:
        if v.status in ("deprecated", "retired"):
            rows.append(("Do not deploy", v, status_label(v)))
    trs = [
        f'<tr><th scope="row">{E(use)}</th><td>{version_link(m.name, v.version, "../")}</td>'
        f"<td>{E(why)}</td></tr>\n"
        for use, v, why in rows
    ]
    return (
        '<section aria-labelledby="guide-h">\n<h2 id="guide-h">Which version to use</h2>\n'
        + table("guide", "Selection guide", ("Use case", "Version", "Reason"), trs)
        + "</section>\n"
    )
