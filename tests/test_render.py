"""``modelreg render``: the registry page, model cards and development guide from the facts."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Registry
from modelreg import render
from modelreg.cli import main
from modelreg.render import blocks, text
from modelreg.render.asof import reference_date

AFTER_EXPIRY = "2024-06-01"
BEFORE_EXPIRY = "2024-02-01"

#: The seed page's own numbers (../shared/seed/MODEL_REGISTRY.md); p50/p90 are set equal to
#: the seed's p99 because the seed states no other percentile.
SEED = {
    "1.0.0": {"accuracy": "0.945", "f1": "0.938", "p99": "45"},
    "1.1.0": {"accuracy": "0.958", "f1": "0.951", "p99": "42"},
}


def latency_block(p99: str, fingerprint: str = "seedpage0001") -> str:
    """An ``evaluation.latency`` block in metadata.yaml's indentation."""
    return (
        "      average: binary\n"
        "  latency:\n"
        f"    p50_ms: {p99}\n"
        f"    p90_ms: {p99}\n"
        f"    p99_ms: {p99}\n"
        "    runs: 1000\n"
        "    warmup: 100\n"
        "    batch_size: 1\n"
        "    environment:\n"
        f"      fingerprint: {fingerprint}\n"
        "      cpu: the seed page's machine\n"
        '      onnxruntime: "1.17.0"\n'
    )


def seed_numbers(reg: Registry, latency: bool = True) -> Registry:
    """Give the demo registry the seed page's tag prefix, metrics and latency."""
    reg.replace("models/demo/model.yaml", "tag_prefix: model-demo", "tag_prefix: model-bert")
    model_yaml = reg.read("models/demo/model.yaml")
    reg.write(
        "models/demo/model.yaml",
        re.sub(r"supported_until: \S+", "supported_until: 2024-03-01", model_yaml),
    )
    for version, numbers in SEED.items():
        rel = f"models/demo/{version}/metadata.yaml"
        reg.replace(rel, "accuracy: 0.8", f"accuracy: {numbers['accuracy']}")
        reg.replace(rel, "value: 0.8", f"value: {numbers['f1']}")
        if latency:
            reg.replace(rel, "      average: binary\n", latency_block(numbers["p99"]))
    return reg


@pytest.fixture
def seed(registry: Registry) -> Registry:
    """The demo registry with the seed page's numbers; cwd is its root."""
    return seed_numbers(registry)


def page(reg: Registry, today: str = AFTER_EXPIRY) -> str:
    return render.render(reg.root, dt.date.fromisoformat(today))[render.PAGE]


# -- the page carries the seed page's information ------------------------------------------------


def test_table_rows_bold_production_and_status_marks(seed: Registry) -> None:
    text_ = page(seed, BEFORE_EXPIRY)
    assert (
        "| **1.1.0** | 2024-01-22 | **95.8%** | **95.1%** | **42ms** | model-bert-v1.1.0 "
        "| **✅ Production** | Recommended version |"
    ) in text_
    assert (
        "| 1.0.0 | 2024-01-15 | 94.5% | 93.8% | 45ms | model-bert-v1.0.0 | 🟡 Supported "
        "| Legacy support |"
    ) in text_
    head = "| Version | Date | Accuracy | F1 | Latency (p99) | Git Tag | Status | Notes |"
    assert head in text_
    # newest first, like the seed
    assert text_.index("| **1.1.0** |") < text_.index("| 1.0.0 |")


def test_improvement_line_is_computed(seed: Registry) -> None:
    text_ = page(seed)
    assert (
        "**v1.1.0** (Current Production)\n- **Improvements**: +1.3% accuracy, -3ms latency\n"
        in (text_)
    )
    assert "**v1.0.0** (Legacy)\n- **Status**: Supported until 2024-03-01 (⚠️ expired)" in text_
    assert "- **Dataset**: sentiment-analysis v1.0 (50,000 samples)" in text_
    assert "- **Recommendation**: Migrate to v1.1.0" in text_


def test_commands_use_the_real_tag_lfs_path_and_overlay(seed: Registry) -> None:
    text_ = page(seed)
    quick = text_[text_.index("#### Quick Start") : text_.index("#### Version Details")]
    assert "git checkout model-bert-v1.1.0\n" in quick
    assert 'git lfs pull --include="models/demo/1.1.0/model.onnx"\n' in quick
    assert "kubectl apply -k overlays/demo/v1.1.0\n" in quick
    sha = re.search(r"sha256: (\w+)", seed.read("models/demo/1.1.0/metadata.yaml"))
    assert sha is not None
    assert f'echo "{sha.group(1)}  models/demo/1.1.0/model.onnx" | sha256sum --check' in text_
    assert "GIT_LFS_SKIP_SMUDGE=1 git clone <repo-url> registry" in text_


def test_rollback_targets_the_supported_version(seed: Registry) -> None:
    text_ = page(seed)
    rollback = text_[text_.index("## Rollback Procedures") : text_.index("## Model Performance")]
    assert "#### Rollback from v1.1.0 to v1.0.0" in rollback
    assert "modelreg rollback demo --env production" in rollback
    assert "git checkout model-bert-v1.0.0\n" in rollback
    assert 'git lfs pull --include="models/demo/1.0.0/model.onnx"' in rollback
    assert "kubectl apply -k overlays/demo/v1.0.0" in rollback
    assert "kubectl get pods -l model=demo" in rollback
    assert "support window ended 2024-03-01; roll back only as a stop-gap" in rollback


def test_every_section_of_the_seed_page(seed: Registry) -> None:
    text_ = page(seed)
    seed_headings = [
        "# Model Registry",
        "## Active Models",
        "### Demo Classifier",
        "#### Version History",
        "#### Quick Start",
        "#### Version Details",
        "## Deployment Instructions",
        "#### Standard Deployment (v1.1.0, manual fallback)",
        "#### Fast Clone (Without All LFS Files)",
        "## Rollback Procedures",
        "## Model Performance Tracking",
        "#### Accuracy Trends",
        "#### Latency Trends (p99)",
        "## Version Selection Guide",
        "## Model Metadata",
        "## Adding New Models",
    ]
    positions = [text_.index(f"\n{h}\n") for h in seed_headings]
    assert positions == sorted(positions)
    assert "See [DEVELOPMENT.md](docs/DEVELOPMENT.md) for:" in text_


def test_trend_bars_and_chart(seed: Registry) -> None:
    text_ = page(seed)
    # 26 blocks for the largest value, eighths for the rest: 94.5/95.8*26*8 = 205.2 -> 25 5/8
    assert "```\nv1.0.0: 94.5% █████████████████████████▋\nv1.1.0: 95.8% " + "█" * 26 + "\n```" in (
        text_
    )
    # 42/45*26*8 = 194.1 -> 24 2/8
    assert "```\nv1.0.0: 45ms " + "█" * 26 + "\nv1.1.0: 42ms " + "█" * 24 + "▎\n```" in text_
    assert (
        "```mermaid\nxychart-beta\n"
        '    title "Demo Classifier: accuracy (bars) and F1 (line), %"\n'
        '    x-axis ["v1.0.0", "v1.1.0"]\n'
        '    y-axis "percent" 92 --> 97\n'
        "    bar [94.5, 95.8]\n"
        "    line [93.8, 95.1]\n```"
    ) in text_
    assert '    y-axis "ms" 0 --> 46\n    bar [45, 42]' in text_


def test_selection_guide(seed: Registry) -> None:
    before = page(seed, BEFORE_EXPIRY)
    assert (
        "| New deployments | v1.1.0 | Production version; highest accuracy of the deployable "
        "versions (95.8%) |"
    ) in before
    assert (
        "| Legacy systems | v1.0.0 | Supported until 2024-03-01; if upgrade testing is pending |"
        in (before)
    )
    assert "| Development/testing | v1.1.0 | Newest version |" in before
    after = page(seed, AFTER_EXPIRY)
    assert "| New deployments | v1.1.0 | Production version |" in after
    assert (
        "| Legacy systems | v1.0.0 | Supported until 2024-03-01 (⚠️ expired: plan the upgrade) |"
        in (after)
    )


def test_expired_window_is_visible_and_depends_only_on_the_reference_date(seed: Registry) -> None:
    before = page(seed, "2024-03-01")  # the last day of support is still supported
    assert "expired" not in before.split("## About this page")[0]
    after = page(seed, "2024-03-02")
    assert "> [!WARNING]\n> **v1.0.0**: support window ended on 2024-03-01" in after
    assert "| 🟡 Supported ⚠️ expired | Legacy support; ⚠️ support window ended 2024-03-01 |" in after
    assert page(seed, "2030-01-01") == after  # nothing else on the page depends on the date


def test_missing_latency_reads_not_measured(registry: Registry) -> None:
    reg = seed_numbers(registry, latency=False)
    text_ = page(reg)
    assert "| **1.1.0** | 2024-01-22 | **95.8%** | **95.1%** | **not measured** |" in text_
    assert "- **Improvements**: +1.3% accuracy; latency not measured\n" in text_
    assert "```\nv1.0.0: not measured\nv1.1.0: not measured\n```" in text_
    assert "ms" not in text_.split("#### Latency Trends (p99)")[1].split("## Version Selection")[0]


def test_latency_from_different_machines_is_not_compared(seed: Registry) -> None:
    seed.replace("models/demo/1.1.0/metadata.yaml", "seedpage0001", "othermachine")
    text_ = page(seed)
    assert (
        "- **Improvements**: +1.3% accuracy; latency not comparable (measured on different "
        "machines)"
    ) in text_
    assert "Latency figures come from different machines (2 fingerprints)" in text_


def test_a_worse_version_is_not_called_an_improvement(seed: Registry) -> None:
    seed.replace("models/demo/1.1.0/metadata.yaml", "accuracy: 0.958", "accuracy: 0.94")
    text_ = page(seed)
    assert "- **Compared with v1.0.0**: -0.5% accuracy, -3ms latency" in text_


def test_environments_come_from_the_gitops_overlays(seed: Registry) -> None:
    for env, version in (("staging", "1.1.0"), ("production", "1.1.0")):
        seed.write(
            f"overlays/{env}/kustomization.yaml",
            f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - ../demo/v{version}\n",
        )
    text_ = page(seed)
    assert "- **Deployment**: production, staging\n" in text_
    assert "- **Deployment**: no environment overlay runs it\n" in text_


# -- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.958", "95.8%"), ("0.9495", "94.95%"), ("0.949626", "94.96%"), ("1", "100.0%")],
)
def test_percent(value: str, expected: str) -> None:
    from decimal import Decimal

    assert text.percent(Decimal(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("42", "42ms"), ("0.41234", "0.412ms"), ("1.2345", "1.23ms"), ("123.6", "124ms")],
)
def test_ms(value: str, expected: str) -> None:
    from decimal import Decimal

    assert text.ms(Decimal(value)) == expected


# -- the files, the command --------------------------------------------------------------------


def test_outputs_are_deterministic_and_say_they_are_generated(seed: Registry) -> None:
    today = dt.date(2024, 6, 1)
    first = render.render(seed.root, today)
    assert first == render.render(seed.root, today)
    assert set(first) == {"MODEL_REGISTRY.md", "docs/models/demo.md", "docs/DEVELOPMENT.md"}
    for rel, content in first.items():
        assert content.splitlines()[0].startswith("<!-- Generated by `modelreg render`"), rel
        assert str(seed.root) not in content, rel
        assert not re.search(r"\b20\d\d-\d\d-\d\dT\d\d:", content), rel


def test_model_card_has_every_fact(seed: Registry) -> None:
    card = render.render(seed.root, dt.date(2024, 6, 1))["docs/models/demo.md"]
    for expected in (
        "# Demo Classifier (`demo`)",
        "| Labels (output index order) | 0: `negative`, 1: `positive` |",
        "| input | `input_ids` | `tensor(int64) [batch, sequence]` |",
        "| output | `logits` | `tensor(float) [batch, 2]` |",
        "### v1.1.0",
        "| Accuracy | 95.8% |",
        "| F1 | 95.1% (binary) |",
        "| Latency | p50 42ms, p90 42ms, p99 42ms |",
        "| Measured with | 1,000 timed runs after 100 warm-up, batch 1; the seed page's machine, "
        "onnxruntime 1.17.0, fingerprint `seedpage0001` |",
        "| v1.0.0 | 🟡 Supported ⚠️ expired | 2024-03-01 (⚠️ expired) |",
        "| Evaluation data | `models/demo/data/eval.npz` (10 samples), sha256 `",
        "## How the numbers were measured",
        "`logits`",
    ):
        assert expected in card, expected


def test_development_guide_lists_every_rule_and_both_templates(seed: Registry) -> None:
    from modelreg.rules import RULES

    guide = render.render(seed.root, dt.date(2024, 6, 1))["docs/DEVELOPMENT.md"]
    assert [r.id for r in RULES if f"| `{r.id}` `{r.name}` |" not in guide] == []
    assert "### `models/<model>/model.yaml`" in guide
    assert "### `models/<model>/<version>/metadata.yaml`" in guide
    assert "\n  sha256: <sha256>  # SHA-256 of the ONNX file's bytes" in guide
    for step in ("modelreg add", "modelreg gate", "modelreg promote", "modelreg release"):
        assert step in guide
    assert "modelreg rollback MODEL --env ENV" in guide


def test_render_check_dry_run_cycle(seed: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    today = ["--today", AFTER_EXPIRY]
    assert main(["render", "--check", *today]) == 1
    out = capsys.readouterr()
    assert "+++ b/MODEL_REGISTRY.md" in out.out
    assert not (seed.root / "MODEL_REGISTRY.md").exists()

    assert main(["render", "-n", *today]) == 0
    assert "--- /dev/null\n+++ b/MODEL_REGISTRY.md" in capsys.readouterr().out
    assert not (seed.root / "MODEL_REGISTRY.md").exists()
    assert not (seed.root / "docs").exists()

    assert main(["render", *today]) == 0
    assert "wrote MODEL_REGISTRY.md" in capsys.readouterr().err
    assert main(["render", "--check", *today]) == 0
    assert capsys.readouterr().out == ""

    seed.replace("models/demo/1.1.0/metadata.yaml", "accuracy: 0.958", "accuracy: 0.959")
    assert main(["render", "--check", *today]) == 1
    captured = capsys.readouterr()
    assert "--- a/MODEL_REGISTRY.md" in captured.out
    assert re.search(r"^-\| \*\*1\.1\.0\*\* \| 2024-01-22 \| \*\*95\.8%\*\*", captured.out, re.M)
    assert re.search(r"^\+\| \*\*1\.1\.0\*\* \| 2024-01-22 \| \*\*95\.9%\*\*", captured.out, re.M)
    assert "+- **Improvements**: +1.4% accuracy, -3ms latency" in captured.out
    assert "out of date: MODEL_REGISTRY.md, docs/models/demo.md" in captured.err

    assert main(["render", *today]) == 0
    assert main(["render", "--check", *today]) == 0
    leftovers = list(seed.root.rglob("*.tmp"))
    assert leftovers == []


def test_check_json_and_orphaned_card(seed: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--today", AFTER_EXPIRY]) == 0
    seed.write("docs/models/gone.md", render.GENERATED_MARK + " from models/gone/ -->\n")
    seed.write("docs/models/handwritten.md", "# notes\n")
    capsys.readouterr()
    assert main(["render", "--check", "--output", "json", "--today", AFTER_EXPIRY]) == 1
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["version"] == 1
    assert report["status"] == "stale"
    statuses = {f["path"]: f["status"] for f in report["files"]}
    assert statuses["docs/models/gone.md"] == "orphan"
    assert statuses["MODEL_REGISTRY.md"] == "current"
    assert "docs/models/handwritten.md" not in statuses
    assert main(["render", "--today", AFTER_EXPIRY]) == 0
    assert not (seed.root / "docs/models/gone.md").exists()
    assert (seed.root / "docs/models/handwritten.md").exists()


def test_invalid_metadata_is_one_clear_error(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.replace("models/demo/1.0.0/metadata.yaml", "accuracy: 0.8", "accuracy: high")
    assert main(["render"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelreg: error: models/demo/1.0.0/metadata.yaml:")
    assert "MR103" in err and "modelreg validate" in err
    assert not (registry.root / "MODEL_REGISTRY.md").exists()


def test_bad_today_is_a_usage_error(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--today", "June"]) == 2
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err


# -- the reference date ------------------------------------------------------------------------


def _git(root: Path, *args: str, date: str = "2024-05-05T12:00:00+00:00") -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    env.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.run(
        ["git", "-C", str(root), *args], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_reference_date_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    root = tmp_path / "plain"
    (root / "models").mkdir(parents=True)
    assert reference_date(root, None, "2024-01-22") == dt.date(2024, 1, 22)  # not a git tree
    _git(root, "init", "-q", "-b", "main")
    _git(root, "commit", "-q", "--allow-empty", "-m", "registry")
    assert reference_date(root, None, "2024-01-22") == dt.date(2024, 5, 5)  # HEAD's date
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1709337600")  # 2024-03-02T00:00:00Z
    assert reference_date(root, None, None) == dt.date(2024, 3, 2)
    assert reference_date(root, dt.date(2024, 1, 1), None) == dt.date(2024, 1, 1)


# -- merging --------------------------------------------------------------------------------------


def test_block_merge_takes_each_side_and_flags_real_conflicts() -> None:
    def doc(*parts: tuple[str, str]) -> str:
        return blocks.join(
            [blocks.Block("", ("head",)), *(blocks.Block(k, (v,)) for k, v in parts)]
        )

    base = doc(("10", "s"), ("10/a", "a1"), ("10/b", "b1"))
    ours = doc(("10", "s"), ("10/a", "a2"), ("10/b", "b1"))
    theirs = doc(("10", "s"), ("10/a", "a1"), ("10/b", "b2"), ("10/c", "c1"))
    result = blocks.merge(base, ours, theirs)
    assert result is not None
    assert result.conflicts == ()
    assert result.text == doc(("10", "s"), ("10/a", "a2"), ("10/b", "b2"), ("10/c", "c1"))

    clash = blocks.merge(base, ours, doc(("10", "s"), ("10/a", "a3"), ("10/b", "b1")))
    assert clash is not None
    assert clash.conflicts == ("10/a",)
    assert "<<<<<<< ours\na2\n=======\na3\n>>>>>>> theirs\n" in clash.text
    assert blocks.merge("plain\n", ours, theirs) is None


def _second_model(root: Path) -> None:
    """models/other: a copy of demo under another name."""
    import shutil

    shutil.copytree(root / "models" / "demo", root / "models" / "other")
    for path in (root / "models" / "other").rglob("*.yaml"):
        content = path.read_text(encoding="utf-8")
        content = content.replace("name: demo", "name: other").replace(
            "model: demo", "model: other"
        )
        content = content.replace("Demo Classifier", "Other Classifier")
        path.write_text(content, encoding="utf-8")


def _add_version(root: Path, model: str, version: str, date: str) -> None:
    """A new candidate version: a copy of 1.1.0 with another version and date."""
    import shutil

    src = root / "models" / model / "1.1.0"
    dst = root / "models" / model / version
    shutil.copytree(src, dst)
    meta = dst / "metadata.yaml"
    content = meta.read_text(encoding="utf-8")
    content = content.replace("version: 1.1.0", f"version: {version}")
    content = content.replace("release_date: 2024-01-22", f"release_date: {date}")
    meta.write_text(content, encoding="utf-8")
    model_yaml = root / "models" / model / "model.yaml"
    with model_yaml.open("a", encoding="utf-8") as fh:
        fh.write(f"  {version}:\n    status: candidate\n")


def _render(root: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "modelreg", "render", "--today", AFTER_EXPIRY],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("driver", [True, False], ids=["driver", "plain-git"])
def test_two_branches_adding_versions_to_different_models_merge_cleanly(
    registry: Registry, driver: bool
) -> None:
    root = registry.root
    _second_model(root)
    _git(root, "init", "-q", "-b", "main")
    (root / ".gitattributes").write_text(
        "MODEL_REGISTRY.md merge=modelreg-render\n", encoding="utf-8"
    )
    if driver:
        _git(root, "config", "merge.modelreg-render.name", "modelreg generated page")
        _git(
            root,
            "config",
            "merge.modelreg-render.driver",
            f"{sys.executable} -m modelreg render --merge-driver %O %A %B %P",
        )
    _render(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "registry")

    _git(root, "switch", "-q", "-c", "add-demo")
    _add_version(root, "demo", "1.2.0", "2024-02-10")
    _render(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "demo 1.2.0")

    _git(root, "switch", "-q", "-c", "add-other", "main")
    _add_version(root, "other", "1.2.0", "2024-02-11")
    _render(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "other 1.2.0")

    _git(root, "switch", "-q", "add-demo")
    _git(root, "merge", "-q", "--no-edit", "add-other")
    assert _git(root, "status", "--porcelain") == ""
    merged = (root / "MODEL_REGISTRY.md").read_text(encoding="utf-8")
    assert "| 1.2.0 | 2024-02-10 |" in merged
    assert "| 1.2.0 | 2024-02-11 |" in merged
    expected = render.render(root, dt.date.fromisoformat(AFTER_EXPIRY))
    assert merged == expected["MODEL_REGISTRY.md"]


def test_merge_driver_reports_a_same_model_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def doc(value: str) -> str:
        return blocks.join([blocks.Block("", ("head",)), blocks.Block("10/a", (value,))])

    files = []
    for name, value in (("base", "1"), ("ours", "2"), ("theirs", "3")):
        path = tmp_path / name
        path.write_text(doc(value), encoding="utf-8")
        files.append(str(path))
    assert main(["render", "--merge-driver", *files, "MODEL_REGISTRY.md"]) == 1
    assert "both sides changed 10/a" in capsys.readouterr().err
    assert "<<<<<<< ours\n2\n=======\n3\n>>>>>>> theirs" in (tmp_path / "ours").read_text()


# -- validate reports a stale page (MR801) --------------------------------------------------------


def test_validate_reports_stale_generated_files(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render"]) == 0
    registry.write("docs/models/notes.md", "# hand-written, not generated\n")
    capsys.readouterr()
    assert main(["validate", "--fast", "--select", "MR8"]) == 0
    capsys.readouterr()

    registry.replace("models/demo/1.1.0/metadata.yaml", "accuracy: 0.8", "accuracy: 0.85")
    assert main(["validate", "--fast", "--select", "MR8"]) == 1
    out = capsys.readouterr().out
    page_line = next(
        n
        for n, line in enumerate(registry.read("MODEL_REGISTRY.md").splitlines(), start=1)
        if line.startswith("| **1.1.0** |")
    )
    assert (
        f"MODEL_REGISTRY.md:{page_line}: MR801 out of date (first difference at line "
        f"{page_line}); run `modelreg render` and commit the result"
    ) in out
    assert "docs/models/demo.md:" in out
    assert "notes.md" not in out

    assert main(["render"]) == 0
    registry.write("docs/models/gone.md", render.GENERATED_MARK + " from models/gone/ -->\n")
    capsys.readouterr()
    assert main(["validate", "--fast", "--select", "MR8"]) == 1
    assert "docs/models/gone.md: MR801 generated card of a model that no longer exists" in (
        capsys.readouterr().out
    )


# -- this repository's own pages -------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_this_repositorys_generated_files_are_current() -> None:
    rendered = render.render(REPO)
    assert {"MODEL_REGISTRY.md", "docs/DEVELOPMENT.md", "docs/models/bert-classifier.md"} <= set(
        rendered
    )
    stale = [s.rel for s in render.states(REPO, rendered) if not s.current]
    assert stale == [], f"stale: {stale}; run `modelreg render` and commit the result"


def test_this_repository_routes_the_page_through_the_merge_driver() -> None:
    lines = (REPO / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "MODEL_REGISTRY.md merge=modelreg-render" in lines
