"""``modelreg render --site DIR``: the static catalog site, checked without a browser.

The site of this repository's own registry (copied into ``tmp_path`` with a git history that
promotes and rolls back) and of the demo registry of conftest: byte-identical rebuilds, links
that work from ``file://``, numbers equal to the metadata, one chart point per version, the
live-where matrix equal to the overlays, a flagged signature change, catalog.json valid against
its schema, and nothing written from a tree that fails ``validate --fast``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
import yaml

from conftest import Registry, git, git_commit_all
from modelreg.cli import main
from modelreg.gitops.envs import environments

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "catalog.schema.json").read_text(encoding="utf-8"))
MAX_PAGE = 200 * 1024


class Page(HTMLParser):
    """Every element of one page as (tag, attributes), plus the text inside chosen elements."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.titles: list[str] = []
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        """Elements with ``tag`` whose attributes include ``attrs`` (``data_x`` → ``data-x``)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            a
            for t, a in self.elements
            if (tag is None or t == tag) and all(a.get(k) == v for k, v in want.items())
        ]


def page(site: Path, rel: str) -> Page:
    return Page((site / rel).read_text(encoding="utf-8"))


def build(root: Path, out: Path, *extra: str) -> int:
    return main(["render", "--site", str(out), "--root", str(root), *extra])


def tree_digest(directory: Path) -> dict[str, str]:
    """path → sha256 of every file under ``directory`` (symlinks by target text)."""
    found = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_symlink():
            found[rel] = "link:" + str(path.readlink())
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def html_files(site: Path) -> Iterator[Path]:
    yield from sorted(site.rglob("*.html"))


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's registry in a fresh git repo whose history adds v1.0.0 to production
    and takes it out again (a promotion-like and a rollback-like change)."""
    root = tmp_path_factory.mktemp("bert") / "reg"
    root.mkdir()
    for name in ("models", "overlays"):
        shutil.copytree(ROOT / name, root / name, symlinks=True)
    shutil.copy(ROOT / ".gitattributes", root / ".gitattributes")
    git_commit_all(root, "registry")
    prod = root / "overlays" / "production" / "kustomization.yaml"
    original = prod.read_text(encoding="utf-8")
    prod.write_text(
        original.replace("  - ../bert-classifier/v1.1.0\n", "  - ../bert-classifier/v1.0.0\n"),
        encoding="utf-8",
    )
    git_commit_all(root, "Roll production back to 1.0.0")
    prod.write_text(original, encoding="utf-8")
    git_commit_all(root, "Promote 1.1.0 to production again")
    return root


@pytest.fixture(scope="module")
def bert_site(bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    assert build(bert, out) == 0
    return out


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


# -- the whole site -------------------------------------------------------------------------


def test_the_site_has_the_pages_of_the_contract(bert_site: Path) -> None:
    files = {p.relative_to(bert_site).as_posix() for p in bert_site.rglob("*") if p.is_file()}
    assert files == {
        "index.html",
        "site.css",
        "site.js",
        "favicon.svg",
        "catalog.json",
        "models/bert-classifier/index.html",
        "models/bert-classifier/1.0.0/index.html",
        "models/bert-classifier/1.1.0/index.html",
        "models/bert-classifier/compare/1.0.0-vs-1.1.0.html",
    }


def test_same_commit_gives_a_byte_identical_site(
    bert: Path, bert_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another machine in another time zone: dates are printed in UTC.
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    again = tmp_path / "again"
    assert build(bert, again) == 0
    assert tree_digest(again) == tree_digest(bert_site)
    assert build(bert, again) == 0  # over an earlier site: replaced, same bytes
    assert tree_digest(again) == tree_digest(bert_site)


def test_every_page_names_its_commit_and_has_the_frame(bert: Path, bert_site: Path) -> None:
    sha = head(bert)
    for path in html_files(bert_site):
        text = path.read_text(encoding="utf-8")
        p = Page(text)
        assert p.find("html", lang="en"), path
        assert p.find("main", id="main"), path
        assert p.find("a", href="#main"), path
        assert p.find("button", id="theme-toggle"), path
        assert p.find("code", data_commit=sha), path
        footer = text.split("<footer>", 1)[1]
        assert f'<code data-commit="{sha}">' in footer, path


def test_links_are_relative_files_that_exist(bert_site: Path) -> None:
    checked = 0
    for path in html_files(bert_site):
        for _tag, attrs in Page(path.read_text(encoding="utf-8")).elements:
            for key in ("href", "src"):
                if key not in attrs:
                    continue
                target = attrs[key]
                if target == "#main":
                    continue
                parts = urlsplit(target)
                assert not parts.scheme and not parts.netloc, (path, target)
                assert not target.startswith("/"), (path, target)
                assert not target.endswith("/"), (path, target)
                resolved = (path.parent / unquote(parts.path)).resolve()
                assert resolved.is_file(), (path, target)
                assert bert_site.resolve() in resolved.parents, (path, target)
                checked += 1
    assert checked == 45  # counted once by hand: 5 pages with icon, css and js, and the links


def test_pages_are_small(bert_site: Path) -> None:
    for path in bert_site.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < MAX_PAGE, path


# -- index ----------------------------------------------------------------------------------


def test_index_rows_and_live_matrix_match_the_overlays(bert: Path, bert_site: Path) -> None:
    p = page(bert_site, "index.html")
    assert p.find("label", **{"for": "filter"})
    assert p.find("input", id="filter", type="search")
    (row,) = p.find("tr", data_model="bert-classifier")
    assert row["data-owner"] == "@modelreg/ml-platform"
    assert row["data-task"] == "text-classification"
    assert row["data-status"] == "deprecated production"
    assert row["data-envs"] == "production staging"
    assert row["data-tags"] == "model-bert-v1.0.0 model-bert-v1.1.0"
    assert {a["aria-sort"] for a in p.find("th") if "aria-sort" in a} == {"none"}
    live = environments(bert)
    text = (bert_site / "index.html").read_text(encoding="utf-8")
    for env, pairs in live.items():
        assert p.find("td", data_env=env, data_model="bert-classifier")
        versions = [v for m, v in pairs if m == "bert-classifier"]
        cell = text.split(f'<td data-env="{env}" data-model="bert-classifier">', 1)[1]
        cell = cell.split("</td>", 1)[0]
        links = [c.split(">", 1)[1].split("<", 1)[0] for c in cell.split("<a ")[1:]]
        assert links == versions
    assert set(live) == {"production", "staging"}


# -- model page -----------------------------------------------------------------------------


def _metadata(root: Path, version: str) -> Any:
    rel = root / "models" / "bert-classifier" / version / "metadata.yaml"
    data = yaml.safe_load(rel.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_number_on_the_model_page_equals_the_metadata(bert: Path, bert_site: Path) -> None:
    p = page(bert_site, "models/bert-classifier/index.html")
    assert p.find("table", id="versions")
    compared = 0
    for version in ("1.0.0", "1.1.0"):
        assert p.find("tr", data_version=version)
        metrics = _metadata(bert, version)["evaluation"]["metrics"]
        expected = {
            "accuracy": metrics["accuracy"],
            "f1": metrics["f1"]["value"],
            "latency_p50_ms": metrics["latency"]["p50_ms"] if "latency" in metrics else None,
        }
        meta = _metadata(bert, version)
        latency = meta["evaluation"]["latency"]
        expected["latency_p50_ms"] = latency["p50_ms"]
        expected["latency_p99_ms"] = latency["p99_ms"]
        text = (bert_site / "models/bert-classifier/index.html").read_text(encoding="utf-8")
        row = text.split(f'<tr data-version="{version}"', 1)[1].split("</tr>", 1)[0]
        cells = Page(row).find("td")
        for field, value in expected.items():
            (cell,) = [c for c in cells if c.get("data-field") == field]
            assert Decimal(cell["data-value"]) == Decimal(repr(value)), (version, field)
            compared += 1
    assert compared == 8


def test_trend_charts_have_one_labelled_point_per_version(bert: Path, bert_site: Path) -> None:
    text = (bert_site / "models/bert-classifier/index.html").read_text(encoding="utf-8")
    for field in ("accuracy", "f1", "latency_p50_ms", "latency_p99_ms"):
        svg = text.split(f'<svg id="trend-{field}"', 1)[1].split("</svg>", 1)[0]
        p = Page(f"<svg {svg}</svg>")
        assert p.find("svg", role="img")
        points = [a for t, a in p.elements if t == "g" and "point" in a.get("class", "").split()]
        assert [a["data-version"] for a in points] == ["1.0.0", "1.1.0"]
        assert "production" in points[1]["class"].split()
        assert "production" not in points[0]["class"].split()
    accuracy = _metadata(bert, "1.1.0")["evaluation"]["metrics"]["accuracy"]
    assert f"<title>v1.1.0 accuracy {accuracy} (production) (staging)</title>" in text


def test_timeline_lists_every_environment_change_with_its_commit(
    bert: Path, bert_site: Path
) -> None:
    commits = git(bert, "log", "--format=%H", "HEAD").split()
    p = page(bert_site, "models/bert-classifier/index.html")
    items = [a for t, a in p.elements if t == "li" and "data-commit" in a]
    kinds = [(a["data-env"], a["data-kind"]) for a in items]
    # newest first: back to 1.1.0, the rollback to 1.0.0, then the first commit (both envs)
    assert [a["data-commit"] for a in items] == [commits[0], commits[1], commits[2], commits[2]]
    assert kinds == [
        ("production", "promotion"),
        ("production", "rollback"),
        ("staging", "added"),
        ("production", "added"),
    ]
    text = (bert_site / "models/bert-classifier/index.html").read_text(encoding="utf-8")
    assert "modelreg tests" in text  # the author
    assert "Roll production back to 1.0.0" in text


def test_every_number_on_the_version_pages_equals_the_metadata(bert: Path, bert_site: Path) -> None:
    for version in ("1.0.0", "1.1.0"):
        meta = _metadata(bert, version)
        metrics, latency = meta["evaluation"]["metrics"], meta["evaluation"]["latency"]
        expected = {
            "accuracy": metrics["accuracy"],
            "f1": metrics["f1"]["value"],
            "latency_p50_ms": latency["p50_ms"],
            "latency_p90_ms": latency["p90_ms"],
            "latency_p99_ms": latency["p99_ms"],
            "size_bytes": meta["artifact"]["size"],
        }
        text = (bert_site / f"models/bert-classifier/{version}/index.html").read_text(
            encoding="utf-8"
        )
        for field, value in expected.items():
            dd = text.split(f'<dd data-field="{field}">', 1)[1].split("</dd>", 1)[0]
            (span,) = Page(dd).find("span")
            assert Decimal(span["data-value"]) == Decimal(repr(value)), (version, field)


def test_version_page_shows_the_verified_facts(bert: Path, bert_site: Path) -> None:
    meta = _metadata(bert, "1.1.0")
    p = page(bert_site, "models/bert-classifier/1.1.0/index.html")
    text = (bert_site / "models/bert-classifier/1.1.0/index.html").read_text(encoding="utf-8")

    def dd(field: str) -> str:
        return text.split(f'<dd data-field="{field}">', 1)[1].split("</dd>", 1)[0]

    artifact = meta["artifact"]
    assert artifact["sha256"] in dd("sha256")
    assert f'data-value="{artifact["size"]}"' in dd("size_bytes")
    assert dd("ir_version") == "10"
    assert dd("opset") == "ai.onnx 18"
    assert dd("release_tag") == "<code>model-bert-v1.1.0</code>"
    assert meta["evaluation"]["data"]["sha256"] in dd("eval_sha256")
    assert p.find("table", id="inputs") and p.find("table", id="outputs")
    assert [a["data-name"] for a in p.find("tr") if "data-name" in a] == [
        "input_ids",
        "attention_mask",
        "logits",
    ]
    # No GitHub remote: the path, no link.
    (download,) = p.find("a", id="download")
    assert "href" not in download
    assert "modelreg pull bert-classifier@1.1.0" in text
    assert "MODEL_REF" in text and "model-bert-v1.1.0" in text


# -- catalog.json ---------------------------------------------------------------------------


def test_catalog_is_valid_and_carries_the_same_data(bert: Path, bert_site: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    doc = json.loads((bert_site / "catalog.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["commit"]["sha"] == head(bert)
    (model,) = doc["models"]
    assert model["production"] == "1.1.0"
    v110 = model["versions"][1]
    metrics = _metadata(bert, "1.1.0")["evaluation"]["metrics"]
    assert v110["metrics"]["accuracy"] == metrics["accuracy"]
    assert doc["live"] == {
        env: {"bert-classifier": [v for _, v in pairs]} for env, pairs in environments(bert).items()
    }
    assert len(doc["timeline"]) == 4


# -- what is refused ------------------------------------------------------------------------


def test_a_failing_tree_builds_nothing(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    before = tree_digest(out)
    registry.replace("models/demo/model.yaml", "task: text-classification", "task: 42")
    capsys.readouterr()
    assert build(registry.root, out) == 1
    err = capsys.readouterr().err
    assert "fails `modelreg validate --fast`; no site was written" in err
    assert "models/demo/model.yaml" in err
    assert tree_digest(out) == before
    fresh = tmp_path / "fresh"
    assert build(registry.root, fresh, "--output", "json") == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["status"], report["written"], report["files"]) == ("invalid", False, [])
    assert {f["path"] for f in report["findings"]} == {"models/demo/model.yaml"}
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_symlink_in_models_is_refused(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("secret\n", encoding="utf-8")
    (registry.root / "models" / "demo" / "1.1.0" / "notes.yaml").symlink_to(
        tmp_path / "outside.yaml"
    )
    out = tmp_path / "site"
    assert build(registry.root, out) == 1
    assert not out.exists()


@pytest.mark.parametrize("inside", ["models", "models/demo", "overlays", ".git", "."])
def test_a_site_inside_the_registry_is_refused(
    registry: Registry, inside: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (registry.root / "overlays").mkdir(exist_ok=True)
    before = tree_digest(registry.root)
    assert (
        build(registry.root, registry.root / inside / "site" if inside != "." else registry.root)
        == 2
    )
    assert "refusing" in capsys.readouterr().err
    assert tree_digest(registry.root) == before


def test_a_directory_that_is_not_a_site_is_not_replaced(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.tex").write_text("mine\n", encoding="utf-8")
    assert build(registry.root, other) == 2
    assert "not a site built by modelreg" in capsys.readouterr().err
    assert (other / "thesis.tex").read_text(encoding="utf-8") == "mine\n"


def test_uncommitted_changes_are_named_on_every_page(registry: Registry, tmp_path: Path) -> None:
    registry.replace("models/demo/1.1.0/metadata.yaml", "accuracy: 0.8", "accuracy: 0.85")
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    for path in html_files(out):
        footer = path.read_text(encoding="utf-8").split("<footer>", 1)[1]
        assert "plus 1 uncommitted change in models/ or overlays/" in footer, path
    doc = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    assert doc["commit"]["uncommitted"] == 1
    git_commit_all(registry.root, "commit it")
    assert build(registry.root, out) == 0
    assert "uncommitted" not in (out / "index.html").read_text(encoding="utf-8")


def test_the_build_leaves_git_and_the_registry_alone(registry: Registry, tmp_path: Path) -> None:
    before = tree_digest(registry.root)
    neighbour = tmp_path / "neighbour.txt"
    neighbour.write_text("untouched\n", encoding="utf-8")
    assert build(registry.root, tmp_path / "site") == 0
    assert tree_digest(registry.root) == before  # .git/ included
    assert neighbour.read_text(encoding="utf-8") == "untouched\n"


def test_dry_run_lists_the_files_and_writes_nothing(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site"
    assert build(registry.root, out, "-n", "--output", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert not out.exists()
    assert report["status"] == "ok" and report["written"] is False
    assert [f["path"] for f in report["files"]] == [
        "catalog.json",
        "favicon.svg",
        "index.html",
        "models/demo/1.0.0/index.html",
        "models/demo/1.1.0/index.html",
        "models/demo/compare/1.0.0-vs-1.1.0.html",
        "models/demo/index.html",
        "site.css",
        "site.js",
    ]
    assert build(registry.root, out, "--dry-run") == 0
    assert capsys.readouterr().out.splitlines()[0] == "catalog.json"
    assert not out.exists()


# -- download links -------------------------------------------------------------------------


def test_artifact_url_template(registry: Registry, tmp_path: Path) -> None:
    out = tmp_path / "site"
    template = "https://models.example.com/{model}/{version}/{path}?at={commit}"
    assert build(registry.root, out, "--artifact-url", template) == 0
    (link,) = page(out, "models/demo/1.1.0/index.html").find("a", id="download")
    sha = head(registry.root)
    assert link["href"] == (
        f"https://models.example.com/demo/1.1.0/models/demo/1.1.0/model.onnx?at={sha}"
    )


def test_github_origin_gives_raw_urls(registry: Registry, tmp_path: Path) -> None:
    git(registry.root, "remote", "add", "origin", "git@github.com:acme/model-registry.git")
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    (link,) = page(out, "models/demo/1.0.0/index.html").find("a", id="download")
    sha = head(registry.root)
    assert link["href"] == (
        f"https://github.com/acme/model-registry/raw/{sha}/models/demo/1.0.0/model.onnx"
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("https://x.example/{name}", "unknown placeholder {name}"),
        ("javascript:alert(1)//{path}", "javascript: URLs are not allowed"),
    ],
)
def test_bad_artifact_url_is_a_usage_error(
    registry: Registry,
    tmp_path: Path,
    template: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build(registry.root, tmp_path / "site", "--artifact-url", template) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


# -- compare --------------------------------------------------------------------------------


def test_compare_flags_an_incompatible_signature_change(registry: Registry, tmp_path: Path) -> None:
    rel = "models/demo/1.1.0/metadata.yaml"
    registry.replace(rel, "shape: [batch, sequence]", "shape: [batch, 128]")
    registry.replace(rel, "accuracy: 0.8", "accuracy: 0.85")
    git_commit_all(registry.root, "1.1.0 takes fixed-length input")
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    rel_page = "models/demo/compare/1.0.0-vs-1.1.0.html"
    p = page(out, rel_page)
    rows = {a["data-name"]: a for a in p.find("tr") if "data-side" in a}
    assert rows["input_ids"]["class"] == "incompatible"
    assert rows["input_ids"]["data-change"] == "shape"
    assert rows["logits"]["class"] == "same"
    text = (out / rel_page).read_text(encoding="utf-8")
    assert "dimension 1: sequence → 128" in text
    assert "1 incompatible signature change</strong>" in text
    deltas = text.split('<table id="metric-deltas">', 1)[1].split("</table>", 1)[0]
    assert (
        '<td class="num delta">+5.0%</td>' in deltas or '<td class="num delta">+5%</td>' in deltas
    )
    assert [a["data-key"] for a in p.find("tr") if "data-key" in a][:2] == ["release_tag", "status"]
    # linked from the model page
    assert page(out, "models/demo/index.html").find("a", href="compare/1.0.0-vs-1.1.0.html")


# -- hostile values -------------------------------------------------------------------------

HOSTILE = "<script>alert(1)</script> \"quoted\" 'single' javascript:alert(2) &amp;"


def test_hostile_card_values_are_escaped(registry: Registry, tmp_path: Path) -> None:
    registry.replace(
        "models/demo/model.yaml", "title: Demo Classifier", f"title: {json.dumps(HOSTILE)}"
    )
    registry.replace(
        "models/demo/model.yaml",
        "description: A two-class demo model.",
        f"description: {json.dumps(HOSTILE)}",
    )
    registry.replace(
        "models/demo/model.yaml", "note: Recommended version", f"note: {json.dumps(HOSTILE)}"
    )
    registry.replace(
        "models/demo/1.1.0/metadata.yaml",
        "summary: Demo release 1.1.0.",
        f"summary: {json.dumps(HOSTILE)}",
    )
    git_commit_all(registry.root, "hostile card")
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    seen = 0
    for path in html_files(out):
        text = path.read_text(encoding="utf-8")
        assert "<script>alert" not in text, path
        seen += text.count(
            "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &#x27;single&#x27;"
        )
        for _tag, attrs in Page(text).elements:
            for key in ("href", "src"):
                assert not attrs.get(key, "").lower().startswith("javascript"), path
        assert [t for t, _ in Page(text).elements if t == "script"] == ["script"]  # site.js only
    assert seen >= 4
    doc = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    assert doc["models"][0]["title"] == HOSTILE


def test_the_index_shows_only_the_newest_changes(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelreg.render.site import pages

    monkeypatch.setattr(pages, "INDEX_HISTORY", 1)
    out = tmp_path / "site"
    assert build(bert, out) == 0
    index = page(out, "index.html")
    assert [a["data-commit"] for a in index.find("li") if "data-commit" in a] == [head(bert)]
    assert "The newest 1 of 4 changes" in (out / "index.html").read_text(encoding="utf-8")
    model = page(out, "models/bert-classifier/index.html")
    assert len([a for a in model.find("li") if "data-commit" in a]) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--artifact-url", "https://x.example/{path}"], "--artifact-url needs --site DIR"),
        (["--site", "SITE", "--check"], "--check and --site cannot be combined"),
    ],
)
def test_usage_errors(
    registry: Registry,
    tmp_path: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [str(tmp_path / "site") if a == "SITE" else a for a in args]
    assert main(["render", "--root", str(registry.root), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_a_regressor_shows_r2_rmse_mae(registry: Registry, tmp_path: Path) -> None:
    registry.replace(
        "models/demo/model.yaml", "task: text-classification", "task: tabular-regression"
    )
    figures = {"1.0.0": ("0.41", "2.5", "0.62"), "1.1.0": ("0.38", "2.25", "0.71")}
    for version, (mae, rmse, r2) in figures.items():
        registry.replace(
            f"models/demo/{version}/metadata.yaml",
            "    accuracy: 0.8\n    f1:\n      value: 0.8\n      average: binary\n",
            f"    mae: {mae}\n    rmse: {rmse}\n    r2: {r2}\n",
        )
    git_commit_all(registry.root, "a regressor")
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    text = (out / "models/demo/index.html").read_text(encoding="utf-8")
    for version, (mae, rmse, r2) in figures.items():
        row = text.split(f'<tr data-version="{version}"', 1)[1].split("</tr>", 1)[0]
        cells = {
            c["data-field"]: c.get("data-value") for c in Page(row).find("td") if "data-field" in c
        }
        assert (cells["mae"], cells["rmse"], cells["r2"]) == (mae, rmse, r2)
        assert "accuracy" not in cells
    assert '<svg id="trend-r2"' in text and '<svg id="trend-accuracy"' not in text
    assert "<title>v1.1.0 r2 0.71 (production)</title>" in text
    compare_text = (out / "models/demo/compare/1.0.0-vs-1.1.0.html").read_text(encoding="utf-8")
    assert '<tr data-field="r2"><th scope="row">R²</th>' in compare_text
    assert '<td class="num delta">+0.09</td>' in compare_text


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ([], ["1.0.0"], "added"),
        (["1.0.0"], [], "removed"),
        (["1.0.0", "1.1.0"], ["1.1.0"], "removed"),
        (["1.1.0"], ["1.0.0", "1.1.0"], "added"),
        (["1.0.0"], ["1.1.0"], "promotion"),
        (["1.0.0"], ["1.0.0", "2.0.0-rc.1"], "promotion"),
        (["1.1.0"], ["1.0.0"], "rollback"),
        (["1.0.0", "1.2.0"], ["1.1.0", "1.2.0"], "changed"),
    ],
)
def test_kind_of_an_environment_change(before: list[str], after: list[str], kind: str) -> None:
    from modelreg.render.site.data import Change

    change = Change("production", "0" * 40, "", "", "", "m", tuple(before), tuple(after))
    assert change.kind == kind


def test_release_tags_give_the_tagged_commit(registry: Registry, tmp_path: Path) -> None:
    sha = head(registry.root)
    git(registry.root, "tag", "-a", "model-demo-v1.0.0", "-m", "release 1.0.0")
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    text = (out / "models/demo/index.html").read_text(encoding="utf-8")
    row = text.split('<tr data-version="1.0.0"', 1)[1].split("</tr>", 1)[0]
    assert f'<td data-field="commit"><code>{sha[:12]}</code></td>' in row
    row = text.split('<tr data-version="1.1.0"', 1)[1].split("</tr>", 1)[0]
    assert '<td data-field="commit">untagged</td>' in row
    doc = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    assert [v["commit"] for v in doc["models"][0]["versions"]] == [sha, None]
    version = (out / "models/demo/1.0.0/index.html").read_text(encoding="utf-8")
    assert f'<dd data-field="commit"><code>{sha}</code></dd>' in version


@pytest.mark.parametrize("exchange", [True, False])
def test_rebuilding_replaces_the_whole_site(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    from modelreg import storage

    if not exchange:  # a system without renameat2: rename aside, rename in
        monkeypatch.setattr(storage, "_exchange", lambda a, b: False)
    out = tmp_path / "site"
    assert build(registry.root, out) == 0
    (out / "stale.html").write_text("from an older build\n", encoding="utf-8")
    first = tree_digest(out)
    assert build(registry.root, out) == 0
    assert not (out / "stale.html").exists()
    assert tree_digest(out) == {k: v for k, v in first.items() if k != "stale.html"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg", "site"]  # nothing left beside


def test_model_card_shows_the_promotion_gates(bert: Path, bert_site: Path) -> None:
    model = yaml.safe_load((bert / "models/bert-classifier/model.yaml").read_text(encoding="utf-8"))
    text = (bert_site / "models/bert-classifier/index.html").read_text(encoding="utf-8")
    gates = text.split('<dd data-field="gates">', 1)[1].split("</dd>", 1)[0]
    assert gates == ", ".join(f"<code>{k}</code> {v}" for k, v in sorted(model["gates"].items()))
