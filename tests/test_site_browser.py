"""The catalog site (`modelreg render --site`, issue #21) in a real browser.

Two sites: this repository's registry (cloned at HEAD with its history and tags, so nothing is
written into the checkout) and a small registry whose demo 1.0.0 and 1.1.0 differ in signature,
beside two more models to filter and sort. Each is opened from disk (``file://``) and from
``python -m http.server`` on 127.0.0.1 under a sub-path (``/<site>/``, as GitHub Pages serves a
project site). One Chromium for the session, a fresh context per test. Tools:
tests/browser_support.py (skipped locally without them, a failure in CI).

The HTML contract the tests read is docs/site.md's: ``#filter``, ``#models`` rows with
``data-model``, sortable ``th[aria-sort] button``, ``#live td[data-env][data-model]``, figure
cells ``[data-field][data-value]``, charts ``svg[id^=trend-]`` with ``g.point[data-version]``,
``#signature-diff tr.incompatible``, ``footer code[data-commit]``.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from browser_support import (
    CHANGED_INPUT_TYPE,
    CHROMIUM,
    OTHER_MODELS,
    SCREENSHOTS,
    Faults,
    axe_violations,
    clone_checkout,
    head_commit,
    http_server,
    render_site,
    require_tools,
    signature_registry,
    watch,
)
from modelreg.gitops.envs import environment_names, version_refs
from modelreg.registry import discover, semver_key

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# -- the sites -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A built site, where it is served from, and the registry it shows."""

    name: str  # its sub-path on the server
    dir: Path
    registry: Path
    commit: str
    server: str  # http://127.0.0.1:PORT/

    def base(self, origin: str) -> str:
        """The site's root URL, ending in ``/``."""
        if origin == "file":
            return self.dir.as_uri() + "/"
        return f"{self.server}{self.name}/"

    def url(self, origin: str, rel: str = "index.html") -> str:
        return self.base(origin) + rel

    def models(self) -> dict[str, dict[str, Any]]:
        """model name -> {"card": model.yaml, "versions": {version: metadata.yaml}}, read with
        modelreg's own loader."""
        registry = discover(self.registry)
        out: dict[str, dict[str, Any]] = {}
        for name, model in sorted(registry.models.items()):
            versions = {v.name: registry.metadata(v) or {} for v in model.sorted_versions()}
            out[name] = {"card": registry.model_data(model) or {}, "versions": versions}
        return out

    def pages(self) -> list[str]:
        """Every page the contract promises, relative to the site root."""
        rels = ["index.html"]
        for name, model in self.models().items():
            rels.append(f"models/{name}/index.html")
            rels += [f"models/{name}/{v}/index.html" for v in model["versions"]]
        return rels


@pytest.fixture(scope="session")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's root: one sub-directory per site."""
    return tmp_path_factory.mktemp("www")


@pytest.fixture(scope="session")
def server(www: Path) -> Iterator[str]:
    require_tools()
    with http_server(www) as url:
        yield url


@pytest.fixture(scope="session")
def repo_site(tmp_path_factory: pytest.TempPathFactory, www: Path, server: str) -> Site:
    """This repository's registry at HEAD, as `modelreg render --site` builds it."""
    clone = clone_checkout(tmp_path_factory.mktemp("checkout") / "modelreg")
    render_site(clone, www / "modelreg")
    return Site("modelreg", www / "modelreg", clone, head_commit(clone), server)


@pytest.fixture(scope="session")
def small_site(tmp_path_factory: pytest.TempPathFactory, www: Path, server: str) -> Site:
    """Three models; demo 1.0.0 -> 1.1.0 changes an input's type."""
    registry = signature_registry(tmp_path_factory.mktemp("small") / "registry")
    render_site(registry, www / "demo-registry")
    return Site("demo-registry", www / "demo-registry", registry, head_commit(registry), server)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


OpenPage = Callable[..., tuple["Page", Faults]]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """``open_page(base, **context_options)``: a page in a fresh context, its faults recorded
    (requests outside ``base`` included); every context is closed after the test."""
    contexts: list[Any] = []

    def factory(base: str, **options: Any) -> tuple[Page, Faults]:
        context = browser.new_context(**options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        return page, watch(page, base)

    yield factory
    for context in contexts:
        context.close()


# -- crawling ------------------------------------------------------------------------------------

_IDS_JS = "() => Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.name)"
_LINKS_JS = "els => els.map(e => e.href)"


@dataclass
class Crawl:
    """What a crawl from the index found."""

    visited: dict[str, list[str]]  # page url -> its faults
    links: dict[str, set[str]]  # page url -> internal link targets (fragments kept)
    ids: dict[str, set[str]]  # page url -> element ids
    external: set[str]


def crawl(page: Page, faults: Faults, base: str) -> Crawl:
    """Open the index and every page an internal link reaches, recording each page's faults.

    Other files (``catalog.json``, ``site.css``) are fetched, not opened: a browser showing a
    non-HTML document asks for the server root's ``/favicon.ico``, outside the site."""
    result = Crawl({}, {}, {}, set())
    queue = [base + "index.html"]
    seen = set(queue)
    while queue:
        url = queue.pop(0)
        if not url.endswith(".html"):
            result.visited[url] = _fetch(url)
            continue
        before = len(faults.all())
        try:
            page.goto(url, wait_until="load")
        except Exception as exc:  # noqa: BLE001 (a missing file:// page raises; that is a fault)
            result.visited[url] = [f"cannot open: {exc}"]
            continue
        result.visited[url] = faults.all()[before:]
        if not page.evaluate("!!document.querySelector('link[rel~=icon]')"):
            # Without one a browser asks the server root for /favicon.ico: outside the
            # sub-path, a 404 on a project site (a console error that comes and goes here).
            result.visited[url].append("no <link rel=icon>: the browser fetches /favicon.ico")
        result.ids[url] = set(page.evaluate(_IDS_JS))
        hrefs: list[str] = page.eval_on_selector_all("a[href]", _LINKS_JS)
        result.links[url] = {h for h in hrefs if h.startswith(base)}
        result.external |= {h for h in hrefs if not h.startswith(base)}
        for href in sorted(result.links[url]):
            target = href.split("#", 1)[0]
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return result


def _fetch(url: str) -> list[str]:
    """A file of the site read by URL (``file://`` or ``http://``): no fault, or why not."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
    except OSError as exc:
        return [f"cannot fetch: {exc}"]
    return []


ORIGINS = ("file", "http")


@pytest.mark.slow
@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("which", ["repo", "small"])
def test_every_page_loads_clean_and_every_link_resolves(
    request: pytest.FixtureRequest, open_page: OpenPage, origin: str, which: str
) -> None:
    site: Site = request.getfixturevalue(f"{which}_site")
    base = site.base(origin)
    page, faults = open_page(base)
    found = crawl(page, faults, base)
    problems = {url: f for url, f in found.visited.items() if f}
    assert problems == {}, problems
    missing = [rel for rel in site.pages() if base + rel not in found.visited]
    assert missing == [], f"not reachable from the index: {missing}"
    compares = [u for u in found.visited if "/compare/" in u]
    assert compares, "no compare page is linked"
    # Every fragment names an element of its page (the skip link's #main included).
    dangling = [
        (url, href)
        for url, hrefs in found.links.items()
        for href in hrefs
        if "#" in href and href.split("#", 1)[1] not in found.ids.get(href.split("#", 1)[0], ())
    ]
    assert dangling == []


def test_every_page_says_its_commit_and_has_its_landmarks(
    repo_site: Site, open_page: OpenPage
) -> None:
    base = repo_site.base("file")
    page, faults = open_page(base)
    for rel in repo_site.pages():
        page.goto(base + rel)
        assert page.evaluate("document.documentElement.lang") == "en", rel
        assert page.locator("main#main").count() == 1, rel
        skip = page.locator("a[href='#main']")
        assert skip.count() >= 1, f"{rel}: no skip link"
        # The skip link is the first thing Tab reaches.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#main", rel
        commits = page.locator("footer code[data-commit]")
        assert commits.count() == 1, rel
        assert commits.get_attribute("data-commit") == repo_site.commit, rel
    assert faults.all() == []


# -- index: filter, sort, live-where ---------------------------------------------------------------


def _visible_models(page: Page) -> list[str]:
    return list(
        page.eval_on_selector_all(
            "#models tbody tr[data-model]",
            "rows => rows.filter(r => !r.hidden).map(r => r.dataset.model)",
        )
    )


def _focus_by_tab(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has the focus (keyboard only, from the top of the page)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    pytest.fail(f"{selector} never received the focus in {limit} Tab presses")


_FOCUS_VISIBLE_JS = """() => {
  const s = getComputedStyle(document.activeElement);
  return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
}"""


@pytest.mark.parametrize("origin", ORIGINS)
def test_index_filter_narrows_the_list_by_keyboard_alone(
    small_site: Site, open_page: OpenPage, origin: str
) -> None:
    page, faults = open_page(small_site.base(origin))
    page.goto(small_site.url(origin))
    everything = sorted(small_site.models())
    assert sorted(_visible_models(page)) == everything
    _focus_by_tab(page, "#filter")
    assert page.evaluate(_FOCUS_VISIBLE_JS), "the focused filter shows no focus ring"
    page.keyboard.type("alpha")
    assert _visible_models(page) == ["alpha-ranker"]
    hidden = page.eval_on_selector_all(
        "#models tbody tr[data-model]",
        "rows => rows.filter(r => r.hidden).map(r => r.dataset.model)",
    )
    assert sorted(hidden) == ["demo", "zeta-tagger"]
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    assert sorted(_visible_models(page)) == everything
    name, owner, _task = OTHER_MODELS[1]
    page.keyboard.type(owner)
    assert _visible_models(page) == [name]
    page.keyboard.press("Control+A")
    page.keyboard.type("no-such-model")
    assert _visible_models(page) == []
    assert faults.all() == []


def _sort_state(page: Page, header: Any) -> tuple[str, list[str]]:
    return str(header.get_attribute("aria-sort")), _visible_models(page)


@pytest.mark.parametrize("origin", ORIGINS)
def test_index_sorts_by_keyboard(small_site: Site, open_page: OpenPage, origin: str) -> None:
    page, faults = open_page(small_site.base(origin))
    page.goto(small_site.url(origin))
    headers = page.locator("#models thead th[aria-sort]")
    assert headers.count() >= 2
    texts = [t.strip().lower() for t in headers.all_inner_texts()]
    column = next(i for i, t in enumerate(texts) if "model" in t or "name" in t)
    header = headers.nth(column)
    header.locator("button").focus()
    state0 = _sort_state(page, header)
    for _ in range(2):
        page.keyboard.press("Enter")
        state, rows = _sort_state(page, header)
        assert state in ("ascending", "descending") and state != state0[0], state
        assert rows == sorted(rows, reverse=state == "descending"), (state, rows)
        others = [
            headers.nth(i).get_attribute("aria-sort") for i in range(headers.count()) if i != column
        ]
        assert set(others) == {"none"}, others
        state0 = (state, rows)
    assert faults.all() == []


@pytest.mark.parametrize("origin", ORIGINS)
def test_live_where_matrix_matches_the_environment_overlays(
    repo_site: Site, open_page: OpenPage, origin: str
) -> None:
    expected: dict[tuple[str, str], set[str]] = {}
    for env in environment_names(repo_site.registry):
        for ref in version_refs(repo_site.registry, env):
            expected.setdefault((env, ref.model), set()).add(ref.version)
    assert expected, "this repository deploys something"
    base = repo_site.base(origin)
    page, faults = open_page(base)
    page.goto(repo_site.url(origin))
    cells = page.eval_on_selector_all(
        "#live td[data-env][data-model]",
        """tds => tds.map(td => [td.dataset.env, td.dataset.model,
                Array.from(td.querySelectorAll('a')).map(a => [a.textContent.trim(), a.href])])""",
    )
    shown: dict[tuple[str, str], set[str]] = {}
    for env, model, links in cells:
        for text, href in links:
            shown.setdefault((env, model), set()).add(text)
            assert href == f"{base}models/{model}/{text}/index.html", href
    assert shown == expected
    # Every environment and every model has its row or column, deployed or not.
    assert {cell[0] for cell in cells} == set(environment_names(repo_site.registry))
    assert faults.all() == []


# -- every number shown is the metadata's ----------------------------------------------------------

_LATENCY = re.compile(r"^latency_(p\d+|max)_ms$")
_PATHS = {
    "sha256": ("artifact", "sha256"),
    "size_bytes": ("artifact", "size"),
    "ir_version": ("onnx", "ir_version"),
    "eval_sha256": ("evaluation", "data", "sha256"),
    "eval_samples": ("evaluation", "data", "samples"),
    "release_date": ("release_date",),
}


def metadata_value(field: str, meta: dict[str, Any]) -> Any:
    """The metadata.yaml value a page's ``data-field`` names (KeyError: unknown to the test)."""
    evaluation = meta.get("evaluation") or {}
    metrics = evaluation.get("metrics") or {}
    latency = _LATENCY.match(field)
    if latency:
        return evaluation["latency"][f"{latency[1]}_ms"]
    if field in metrics:
        value = metrics[field]
        return value["value"] if isinstance(value, dict) else value
    node: Any = meta
    for key in _PATHS.get(field) or tuple(field.split(".")):
        node = node[key]
    return node


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def shown_honestly(text: str, value: float) -> bool:
    """Whether a number in the text a reader sees is ``value`` rounded as shown (``94.95%``,
    ``0.3459 ms``)."""
    for match in _NUMBER.finditer(text):
        digits = match[0].replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scaled = value * 100 if "%" in text[match.end() : match.end() + 2] else value
        # Rounded to the digits shown (either way at a tie: 0.9495 is 0.94949999... in binary).
        if abs(scaled - float(digits)) <= 10**-decimals / 2 + 1e-9:
            return True
    return False


def _figures(page: Page, selector: str) -> list[tuple[str, str, str]]:
    return list(
        page.eval_on_selector_all(
            selector,
            "els => els.map(e => [e.closest('[data-field]').dataset.field, e.dataset.value,"
            " e.textContent.trim()])",
        )
    )


def _check_figure(where: str, field: str, value: str, text: str, meta: dict[str, Any]) -> str:
    try:
        expected = metadata_value(field, meta)
    except (KeyError, TypeError):
        return f"{where}: data-field {field!r} is not a metadata value the test knows"
    if isinstance(expected, bool) or not isinstance(expected, int | float):
        return "" if value == str(expected) else f"{where}: {field} {value!r} != {expected!r}"
    if float(value) != float(expected):
        return f"{where}: {field} data-value {value} != metadata {expected}"
    if not shown_honestly(text, float(expected)):
        return f"{where}: {field} shows {text!r} for {expected}"
    return ""


@pytest.mark.parametrize("which", ["repo", "small"])
def test_every_number_shown_equals_the_metadata(
    request: pytest.FixtureRequest, open_page: OpenPage, which: str
) -> None:
    site: Site = request.getfixturevalue(f"{which}_site")
    page, faults = open_page(site.base("file"))
    problems: list[str] = []
    checked = 0
    for name, model in site.models().items():
        page.goto(site.url("file", f"models/{name}/index.html"))
        rows = page.eval_on_selector_all("#versions tr[data-version]", "rs => rs.length")
        assert rows == len(model["versions"]), name
        for version, meta in model["versions"].items():
            row = f"#versions tr[data-version='{version}'] td[data-field][data-value]"
            for field, value, text in _figures(page, row):
                problems.append(_check_figure(f"{name} {version}", field, value, text, meta))
                checked += 1
        for version, meta in model["versions"].items():
            page.goto(site.url("file", f"models/{name}/{version}/index.html"))
            for field, value, text in _figures(page, "dd[data-field] [data-value]"):
                problems.append(_check_figure(f"{name}/{version}", field, value, text, meta))
                checked += 1
            problems += _version_facts(page, f"{name}/{version}", meta, model["card"])
    assert [p for p in problems if p] == []
    assert checked >= 3 * sum(len(m["versions"]) for m in site.models().values())
    assert faults.all() == []


def _count(n: int) -> list[str]:
    """A count as a page may write it: ``2,000`` or ``2000``."""
    return [f"{n:,}", str(n)]


def _version_facts(page: Page, where: str, meta: dict[str, Any], card: dict[str, Any]) -> list[str]:
    """The version page's facts (``dd[data-field]``) against metadata.yaml, as text."""
    onnx = meta["onnx"]
    producer = onnx["producer"]
    expected = {
        "sha256": [meta["artifact"]["sha256"]],
        "size_bytes": [f"{meta['artifact']['size']:,}", str(meta["artifact"]["size"])],
        "ir_version": [str(onnx["ir_version"])],
        "opset": [f"{v}" for v in onnx["opsets"].values()],
        "producer": [str(producer["name"]), str(producer["version"])],
        "eval_sha256": [meta["evaluation"]["data"]["sha256"]],
        "eval_samples": _count(meta["evaluation"]["data"]["samples"]),
    }
    latency = meta["evaluation"].get("latency")
    if latency:
        expected["latency_runs"] = _count(latency["runs"])
    problems = []
    for field, needles in expected.items():
        texts = page.eval_on_selector_all(
            f"dd[data-field='{field}']", "els => els.map(e => e.textContent)"
        )
        if len(texts) != 1:
            problems.append(f"{where}: {len(texts)} dd[data-field={field}]")
            continue
        if field in ("size_bytes", "eval_samples", "latency_runs"):
            if not any(n in texts[0] for n in needles):
                problems.append(f"{where}: size {texts[0]!r}, expected {needles[0]}")
        elif not all(n in texts[0] for n in needles):
            problems.append(f"{where}: {field} {texts[0]!r} lacks one of {needles}")
    tag = f"{card['tag_prefix']}-v{meta['version']}"
    shown_tags = set(re.findall(r"\S+-v\d+\.\d+\.\d+\S*", page.inner_text("main")))
    if shown_tags - {tag}:
        problems.append(f"{where}: shows tags {sorted(shown_tags)}, its tag is {tag}")
    for table in ("inputs", "outputs"):
        names = [io["name"] for io in onnx[table]]
        shown = page.locator(f"table#{table} tbody tr").all_inner_texts()
        if len(shown) != len(names) or not all(n in s for n, s in zip(names, shown, strict=False)):
            problems.append(f"{where}: #{table} {shown} != {names}")
    return problems


def test_shown_honestly_reads_rounding_and_percentages() -> None:
    assert shown_honestly("94.95%", 0.9495)
    assert shown_honestly("0.9495", 0.9495)
    assert shown_honestly("0.950", 0.9495)
    assert shown_honestly("670,284 bytes", 670284)
    assert not shown_honestly("95.95%", 0.9495)
    assert not shown_honestly("0.94", 0.9495)
    assert not shown_honestly("n/a", 0.9495)


@pytest.mark.parametrize("which", ["repo", "small"])
def test_trend_charts_have_one_labelled_point_per_version(
    request: pytest.FixtureRequest, open_page: OpenPage, which: str
) -> None:
    site: Site = request.getfixturevalue(f"{which}_site")
    page, faults = open_page(site.base("file"))
    for name, model in site.models().items():
        page.goto(site.url("file", f"models/{name}/index.html"))
        charts = page.locator("svg[id^='trend-']")
        ids = [charts.nth(i).get_attribute("id") for i in range(charts.count())]
        assert "trend-accuracy" in ids, (name, ids)
        for chart_id in ids:
            metric = str(chart_id).removeprefix("trend-")
            chart = page.locator(f"svg#{chart_id}")
            assert chart.get_attribute("role") == "img"
            label = page.evaluate(
                "id => { const s = document.getElementById(id);"
                " const by = (s.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean);"
                " return s.getAttribute('aria-label') || by.map(i =>"
                " (document.getElementById(i) || {}).textContent || '').join(' ') }",
                chart_id,
            )
            assert label.strip(), f"{name}: {chart_id} has no accessible name"
            points = chart.locator("g.point").evaluate_all(
                "gs => gs.map(g => [g.dataset.version,"
                " (g.querySelector('title') || {}).textContent])"
            )
            versions = [v for v, _ in points]
            having = [v for v, meta in model["versions"].items() if _has_metric(metric, meta)]
            assert sorted(versions, key=semver_key) == having, (name, metric, versions)
            for version, title in points:
                assert title and version in title, (name, metric, version, title)
                value = metadata_value(metric, model["versions"][version])
                assert shown_honestly(title.split(version, 1)[1], float(value)), (title, value)
    assert faults.all() == []


def _has_metric(metric: str, meta: dict[str, Any]) -> bool:
    try:
        metadata_value(metric, meta)
    except (KeyError, TypeError):
        return False
    return True


# -- compare -------------------------------------------------------------------------------------


def _compare_link(page: Page, a: str, b: str) -> str:
    hrefs: list[str] = page.eval_on_selector_all("a[href*='compare/']", _LINKS_JS)
    found = [h for h in hrefs if a in h.rsplit("/", 1)[1] and b in h.rsplit("/", 1)[1]]
    assert found, f"no compare link for {a} and {b} among {hrefs}"
    return found[0]


@pytest.mark.parametrize("origin", ORIGINS)
def test_compare_highlights_a_signature_change(
    small_site: Site, open_page: OpenPage, origin: str
) -> None:
    page, faults = open_page(small_site.base(origin))
    page.goto(small_site.url(origin, "models/demo/index.html"))
    page.goto(_compare_link(page, "1.0.0", "1.1.0"))
    incompatible = page.locator("#signature-diff tr.incompatible").all_inner_texts()
    assert len(incompatible) == 1, incompatible
    assert "input_ids" in incompatible[0]
    assert "int64" in incompatible[0] and CHANGED_INPUT_TYPE in incompatible[0]
    # The unchanged output is listed, not highlighted.
    rows = page.locator("#signature-diff tbody tr").all_inner_texts()
    assert any("logits" in r for r in rows), rows
    assert page.locator("#metric-deltas tbody tr").count() >= 2  # accuracy and F1
    assert faults.all() == []


def test_compare_of_equal_signatures_highlights_nothing(
    repo_site: Site, open_page: OpenPage
) -> None:
    versions = repo_site.models()["bert-classifier"]["versions"]
    old, new = (versions[v]["onnx"] for v in sorted(versions, key=semver_key)[-2:])
    same = (old["inputs"], old["outputs"]) == (new["inputs"], new["outputs"])
    page, faults = open_page(repo_site.base("file"))
    page.goto(repo_site.url("file", "models/bert-classifier/index.html"))
    a, b = sorted(versions, key=semver_key)[-2:]
    page.goto(_compare_link(page, a, b))
    incompatible = page.locator("#signature-diff tr.incompatible").count()
    assert (incompatible == 0) == same, (incompatible, same)
    assert faults.all() == []


# -- accessibility, themes, small screens, no script -----------------------------------------------

THEMES = {
    "light": ({"color_scheme": "light"}, ""),
    "dark-os": ({"color_scheme": "dark"}, ""),
    "dark-url": ({"color_scheme": "light"}, "?theme=dark"),
}


@pytest.mark.slow
@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("which", ["repo", "small"])
def test_axe_finds_no_violation_on_any_page(
    request: pytest.FixtureRequest, open_page: OpenPage, which: str, theme: str
) -> None:
    site: Site = request.getfixturevalue(f"{which}_site")
    options, query = THEMES[theme]
    base = site.base("file")
    page, faults = open_page(base, **options)
    rels = [*site.pages(), *_compare_pages(site)]
    violations: dict[str, list[str]] = {}
    for rel in rels:
        page.goto(base + rel + query)
        if theme == "dark-url":
            assert page.evaluate("document.documentElement.dataset.theme") == "dark", rel
        found = axe_violations(page)
        if found:
            violations[rel] = found
    assert violations == {}
    assert faults.all() == []


def _compare_pages(site: Site) -> list[str]:
    return sorted(
        p.relative_to(site.dir).as_posix() for p in site.dir.glob("models/*/compare/*.html")
    )


_BACKGROUND_JS = """() => {
  const rgb = getComputedStyle(document.body).backgroundColor.match(/[\\d.]+/g).map(Number);
  return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
}"""


def test_dark_mode_follows_the_os_the_url_and_the_toggle(
    repo_site: Site, open_page: OpenPage
) -> None:
    url = repo_site.url("file")

    def brightness(scheme: str, query: str = "") -> float:
        page, faults = open_page(repo_site.base("file"), color_scheme=scheme)
        page.goto(url + query)
        assert faults.all() == []
        return float(page.evaluate(_BACKGROUND_JS))

    light, dark = brightness("light"), brightness("dark")
    assert light > dark + 100, (light, dark)
    assert brightness("light", "?theme=dark") == dark
    assert brightness("dark", "?theme=light") == light
    # The toggle, by keyboard: light OS, one Enter on the button turns the page dark.
    page, faults = open_page(repo_site.base("file"), color_scheme="light")
    page.goto(url)
    page.locator("#theme-toggle").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert float(page.evaluate(_BACKGROUND_JS)) == dark
    assert faults.all() == []


@pytest.mark.parametrize("which", ["repo", "small"])
def test_no_horizontal_scroll_on_a_390px_phone(
    request: pytest.FixtureRequest, open_page: OpenPage, which: str
) -> None:
    site: Site = request.getfixturevalue(f"{which}_site")
    base = site.base("file")
    page, faults = open_page(base, viewport={"width": 390, "height": 844})
    wide = {}
    for rel in [*site.pages(), *_compare_pages(site)]:
        page.goto(base + rel)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > 390:
            wide[rel] = width
    assert wide == {}
    assert faults.all() == []


def test_pages_work_without_javascript(small_site: Site, open_page: OpenPage) -> None:
    page, faults = open_page(small_site.base("file"), java_script_enabled=False)
    page.goto(small_site.url("file"))
    assert sorted(_visible_models(page)) == sorted(small_site.models())
    assert page.locator("#models tbody tr[data-model]").evaluate_all(
        "rows => rows.every(r => r.offsetParent !== null)"
    )
    page.goto(small_site.url("file", "models/demo/index.html"))
    assert page.locator("#versions tr[data-version]").count() == 2
    assert faults.all() == []


# -- screenshots ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_screenshots_at_1280_and_390(repo_site: Site, open_page: OpenPage) -> None:
    """Index, model, version and compare pages, light at both widths and dark at 1280, into
    MODELREG_SCREENSHOTS (default build/screenshots/): CI keeps them as artifacts."""
    model = "bert-classifier"
    versions = sorted(repo_site.models()[model]["versions"], key=semver_key)
    compare = _compare_pages(repo_site)
    assert compare
    shots = {
        "index": "index.html",
        "model": f"models/{model}/index.html",
        "version": f"models/{model}/{versions[-1]}/index.html",
        "compare": compare[0],
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    written = []
    for width, scheme in ((1280, "light"), (390, "light"), (1280, "dark")):
        page, faults = open_page(
            repo_site.base("file"), viewport={"width": width, "height": 900}, color_scheme=scheme
        )
        for name, rel in shots.items():
            page.goto(repo_site.url("file", rel))
            suffix = "" if scheme == "light" else f"-{scheme}"
            path = SCREENSHOTS / f"{name}-{width}{suffix}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        assert faults.all() == []
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_a_missing_browser_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import browser_support

    monkeypatch.setattr(browser_support, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", "true")
    reason = "no browser at /nonexistent/chromium (apt-get install -y chromium)"
    with pytest.raises(pytest.fail.Exception, match=re.escape(f"{reason} (.ci/run installs")):
        require_tools()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=f"^{re.escape(reason)}$"):
        require_tools()
