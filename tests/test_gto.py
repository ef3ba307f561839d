"""GTO interop, against the real ``gto`` 1.10.1 (docs/gto.md).

GTO writes the tags here (``gto register``, ``assign``, ``deprecate``) and modelreg reads them
(``validate``, ``list``, ``show``: MR710 when the two disagree); and the reverse: the tags
``modelreg release`` makes are the registrations ``gto show`` and ``gto history`` read. The
registry is a copy of this repository's, committed in git with each version on a commit of
its own (GTO allows one version per commit). GTO orders events by the second, so steps whose
order matters wait for the next second; the tie rules are tested on tags made with git at
fixed times and compared with what ``gto show`` prints.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attack_support import REGISTRY_PATHS
from attack_support import REPO as SOURCE
from conftest import Registry, git
from modelreg.cli import main
from modelreg.git import gto
from modelreg.git.repo import open_repo

GTO = Path(sys.executable).parent / "gto"
MODEL = "bert-classifier"
MODEL_YAML = f"models/{MODEL}/model.yaml"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Bot",
    "GIT_AUTHOR_EMAIL": "bot@modelreg.invalid",
    "GIT_COMMITTER_NAME": "Release Bot",
    "GIT_COMMITTER_EMAIL": "bot@modelreg.invalid",
}


@pytest.fixture(autouse=True)
def _gto_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """gto from this interpreter's environment (the dev extra); in CI its absence fails."""
    if not GTO.is_file():
        why = f"gto is not installed beside {sys.executable} (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    # GTO refuses GIT_COMMITTER_DATE (scmrepo: "signature date override unsupported").
    monkeypatch.delenv("GIT_COMMITTER_DATE", raising=False)


def run_gto(root: Path, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(GTO), *argv, "--repo", str(root)]
        if argv[0] in ("show", "history")
        else [str(GTO), *argv],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if ok:
        assert done.returncode == 0, f"gto {' '.join(argv)}: {done.stdout}{done.stderr}"
    return done


def gto_show(root: Path) -> dict[str, Any]:
    """``gto show --json -d``: artifact → stages (None-free) and whether it is active."""
    data = json.loads(run_gto(root, "show", "--json", "-d").stdout)
    return {
        name: {"stage": {s: v for s, v in d["stage"].items() if v}, "active": d["active"]}
        for name, d in data.items()
    }


def modelreg_view(root: Path) -> dict[str, Any]:
    """The same, as modelreg computes it."""
    state = gto.read(open_repo(root))
    return {
        name: {"stage": {s: v for s, (v, _tag) in a.stages().items()}, "active": a.active}
        for name, a in state.artifacts.items()
        if a.versions or a.deprecations
    }


def next_second() -> None:
    """GTO orders events by the tagger's time in seconds: make the next tag strictly later."""
    now = int(time.time())
    while int(time.time()) == now:
        time.sleep(0.05)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mr710(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``validate --fast``: exit status and its MR710 lines (the copy's only other findings
    are MR619 warnings about the example clone URL)."""
    code, out, _ = cli(capsys, "validate", "--fast")
    others = [line for line in out.splitlines() if " MR710 " not in line]
    assert all(" MR619 (warning) " in line for line in others), out
    return code, [line for line in out.splitlines() if " MR710 " in line]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """This repository's registry with ``tag_format: gto``, released by modelreg: 1.0.0 and
    1.1.0 each on a commit of its own, production and staging serving 1.1.0."""
    root = tmp_path / "registry"
    for rel in REGISTRY_PATHS:
        src, dst = SOURCE / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    reg = Registry(root)
    reg.replace(MODEL_YAML, "tag_prefix: model-bert\n", "tag_prefix: model-bert\ntag_format: gto\n")
    monkeypatch.chdir(root)
    git(root, "init", "-q", "-b", "main")
    # The release tags appear in the version overlays and the pages: regenerate them.
    assert main(["overlays"]) == 0
    assert main(["render"]) == 0
    newer = (f"models/{MODEL}/1.1.0", f"overlays/{MODEL}/v1.1.0")
    git(root, "add", "-A", "--", ".", *(f":!{p}" for p in newer))
    git(root, "commit", "-q", "-m", "bert-classifier 1.0.0")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bert-classifier 1.1.0")
    assert main(["release"]) == 0
    # The pages show what is released: bring them up to date as a team would.
    assert main(["render"]) == 0
    git(root, "commit", "-q", "-am", "render")
    return reg


def commit_of(root: Path, rev: str) -> str:
    return git(root, "rev-parse", f"{rev}^{{commit}}").strip()


# -- modelreg writes, GTO reads ---------------------------------------------------------


def test_gto_reads_modelreg_releases_as_registrations(registry: Registry) -> None:
    root = registry.root
    shown = json.loads(run_gto(root, "show", "--json").stdout)
    assert shown == {MODEL: {"version": "v1.1.0", "stage": {}, "registered": True, "active": True}}
    history = json.loads(run_gto(root, "history", MODEL, "--json").stdout)
    assert sorted((e["event"], e["version"], e["commit"], e["ref"]) for e in history) == [
        ("registration", "v1.0.0", commit_of(root, "main~2"), f"{MODEL}@v1.0.0"),
        ("registration", "v1.1.0", commit_of(root, "main~1"), f"{MODEL}@v1.1.0"),
    ]
    # And `gto assign` by version finds the commit modelreg tagged.
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "prod")
    assert commit_of(root, f"{MODEL}#prod#1") == commit_of(root, "main~1")
    assert gto_show(root) == {MODEL: {"stage": {"prod": "v1.1.0"}, "active": True}}


# -- GTO writes, modelreg reads ---------------------------------------------------------


def test_agreement_passes_and_list_show_print_the_stages(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "prod")
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "staging")
    run_gto(root, "assign", MODEL, "--version", "v1.0.0", "--stage", "dev")  # not mapped
    assert mr710(capsys) == (0, [])

    code, out, _ = cli(capsys, "list")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert lines[0][-1] == "GTO"
    assert (lines[1][1], lines[1][-1]) == ("1.0.0", "dev")
    assert (lines[2][1], lines[2][-1]) == ("1.1.0", "prod,staging")
    code, out, _ = cli(capsys, "list", "--output", "json")
    assert [
        (v["version"], v["gto_stages"], v["gto_status"]) for v in json.loads(out)["versions"]
    ] == [
        ("1.0.0", ["dev"], "registered"),
        ("1.1.0", ["prod", "staging"], "registered"),
    ]
    code, out, _ = cli(capsys, "show", f"{MODEL}@1.1.0")
    assert "gto stages       prod, staging\n" in out
    assert modelreg_view(root) == gto_show(root)


@pytest.mark.slow
def test_a_later_assignment_to_another_version_is_mr710_until_unassigned(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "prod")
    next_second()
    run_gto(root, "assign", MODEL, "--version", "v1.0.0", "--stage", "prod")
    assert gto_show(root)[MODEL]["stage"] == {"prod": "v1.0.0"}
    assert mr710(capsys) == (
        1,
        [
            f"{MODEL_YAML}:11:1: MR710 GTO says {MODEL}@v1.0.0 is in stage `prod` (tag "
            f"{MODEL}#prod#2) but overlays/production serves 1.1.0; if overlays/production is "
            f"right, record it in GTO: `gto assign {MODEL} --version v1.1.0 --stage prod`, else "
            f"promote 1.0.0 there with modelreg (`modelreg promote {MODEL} 1.0.0 --env "
            "production`)"
        ],
    )
    code, out, _ = cli(capsys, "show", f"{MODEL}@1.0.0")
    assert (code, "gto stages       prod\n" in out) == (0, True)

    # Unassigning the newer assignment gives the stage back to the previous holder (GTO).
    next_second()
    run_gto(root, "deprecate", MODEL, "v1.0.0", "prod")
    assert git(root, "tag", "-l", f"{MODEL}#prod!*").split() == [f"{MODEL}#prod!#3"]
    assert gto_show(root)[MODEL]["stage"] == {"prod": "v1.1.0"}
    assert mr710(capsys) == (0, [])


def test_an_emptied_stage_is_mr710_while_the_environment_serves_a_version(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "staging")
    next_second()
    run_gto(root, "deprecate", MODEL, "v1.1.0", "staging")
    assert gto_show(root)[MODEL]["stage"] == {}
    assert mr710(capsys) == (
        1,
        [
            f"{MODEL_YAML}:11:1: MR710 GTO has no version of {MODEL} in stage `staging` "
            f"(latest `staging` tag: {MODEL}#staging!#2) but overlays/staging serves 1.1.0; "
            f"record it in GTO: `gto assign {MODEL} --version v1.1.0 --stage staging`"
        ],
    )


def test_deregistering_a_live_version_is_mr710(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    # 1.0.0 is `deprecated` in model.yaml: deregistering it in GTO agrees.
    run_gto(root, "deprecate", MODEL, "v1.0.0")
    assert mr710(capsys) == (0, [])
    run_gto(root, "deprecate", MODEL, "v1.1.0")
    assert git(root, "tag", "-l", f"{MODEL}@v1.1.0!*").split() == [f"{MODEL}@v1.1.0!"]
    tag = f"{MODEL}@v1.1.0!"
    assert mr710(capsys) == (
        1,
        [
            f"{MODEL_YAML}:18:13: MR710 GTO deregistered {MODEL}@v1.1.0 (tag {tag}) but this "
            "model.yaml lists 1.1.0 as `production`; mark it `deprecated` (or `retired`) here, "
            f"or undo the deregistration (`git tag -d '{tag}'` and "
            f"`git push origin ':refs/tags/{tag}'`)"
        ],
    )
    code, out, _ = cli(capsys, "list")
    assert (code, out.splitlines()[2].split()[-1]) == (0, "deregistered")


@pytest.mark.slow
def test_deprecating_a_running_model_is_mr710(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "prod")
    next_second()
    run_gto(root, "deprecate", MODEL)
    # `gto show -d` still prints the stage of a deprecated model; `gto show` hides the model.
    assert gto_show(root) == {MODEL: {"stage": {"prod": "v1.1.0"}, "active": False}}
    assert json.loads(run_gto(root, "show", "--json").stdout) == {}
    tag = f"{MODEL}@deprecated"
    assert mr710(capsys) == (
        1,
        [
            f"{MODEL_YAML}:11:1: MR710 GTO says {MODEL} is deprecated (tag {tag}) but this "
            "model.yaml lists 1.1.0 as `production`; deprecate or retire every version here and "
            "take it out of its environments, or undo the deprecation in GTO (`git tag -d "
            f"'{tag}'` and `git push origin ':refs/tags/{tag}'`)"
        ],
    )
    code, out, _ = cli(capsys, "list", "--output", "json")
    assert code == 0
    assert {v["gto_status"] for v in json.loads(out)["versions"]} == {"deprecated"}


def test_overlays_gto_yaml_maps_environments_to_stages(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    registry.write("overlays/gto.yaml", "stages:\n  production: live\n")
    run_gto(root, "assign", MODEL, "--version", "v1.1.0", "--stage", "live")
    # `prod` and `staging` are no environment's stage now: GTO may say what it likes there.
    run_gto(root, "assign", MODEL, "--version", "v1.0.0", "--stage", "prod")
    assert mr710(capsys) == (0, [])
    next_second()
    run_gto(root, "assign", MODEL, "--version", "v1.0.0", "--stage", "live")
    code, lines = mr710(capsys)
    assert code == 1
    assert [line.split(" (tag ")[0] for line in lines] == [
        f"{MODEL_YAML}:11:1: MR710 GTO says {MODEL}@v1.0.0 is in stage `live`"
    ]

    registry.write("overlays/gto.yaml", "stages:\n  production: prod\n  staging: prod\n")
    assert mr710(capsys) == (
        1,
        [
            "overlays/gto.yaml: MR710 maps two environments to the same GTO stage; give each "
            "its own; GTO stages were not compared with the environments (docs/gto.md)"
        ],
    )
    registry.write("overlays/gto.yaml", "stages:\n  production: -prod\n")
    code, lines = mr710(capsys)
    assert code == 1
    assert lines == [
        "overlays/gto.yaml: MR710 `stages: {production: -prod}` is not an environment name "
        "mapped to a GTO stage name (letters, digits, `-`, `_`, `/`; starting and ending with "
        "a letter or digit); GTO stages were not compared with the environments (docs/gto.md)"
    ]


def test_two_versions_on_one_commit_are_mr710_once_gto_assigns_one(
    make_registry: Callable[[], Registry],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo registry adds both versions in one commit: GTO reads both registrations, but
    an assignment cannot name one of them, and `gto show` fails."""
    reg = make_registry()
    root = reg.root
    monkeypatch.chdir(root)
    reg.replace(
        "models/demo/model.yaml",
        "tag_prefix: model-demo\n",
        "tag_prefix: model-demo\ntag_format: gto\n",
    )
    git(root, "commit", "-q", "-am", "GTO tags")
    assert cli(capsys, "release")[0] == 0
    assert gto_show(root) == {"demo": {"stage": {}, "active": True}}
    # gto makes the tag, then fails reading it back.
    assigned = run_gto(root, "assign", "demo", "--version", "v1.1.0", "--stage", "prod", ok=False)
    assert assigned.returncode == 1
    assert "Created git tag 'demo#prod#1'" in assigned.stdout
    failed = run_gto(root, "show", "--json", ok=False)
    assert failed.returncode == 1
    assert "Multiple versions are not allowed on the same Git commit" in failed.stderr
    commit = commit_of(root, "demo#prod#1")
    code, out, _ = cli(capsys, "validate", "--fast")
    assert (code, out.splitlines()) == (
        1,
        [
            "models/demo/model.yaml:10:1: MR710 GTO cannot read demo's stages: tag demo#prod#1 "
            f"points at commit {commit[:12]}, which holds versions 'v1.0.0', 'v1.1.0' of demo, "
            "so GTO cannot tell which one it assigns (GTO allows one version per commit), and "
            "`gto show` fails; delete that tag: GTO assigns stages only to versions released "
            "from commits of their own"
        ],
    )


def test_a_created_tag_that_stops_gto_is_mr710(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    root = registry.root
    tag = f"{MODEL}@created"
    git(root, "tag", "-a", tag, "-m", "made by hand")
    failed = run_gto(root, "show", "--json", ok=False)
    assert (failed.returncode, "Unexpected error: 'action'" in failed.stderr) == (1, True)
    assert mr710(capsys) == (
        1,
        [
            f"models: MR710 tag {tag} stops every GTO command (GTO 1.10.1 parses `@created` "
            "but cannot index it: \"Unexpected error: 'action'\"), so GTO shows no stage at "
            f"all; delete it (`git tag -d '{tag}'` and `git push origin ':refs/tags/{tag}'`)"
        ],
    )


def test_without_gto_stage_tags_nothing_changes(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Release tags alone (GTO's registrations) add no column, no finding, and validate
    reads no GTO event times (no git call beyond the release rules' own)."""

    def unexpected(repo: object) -> list[gto.Event]:
        raise AssertionError("read GTO events without a GTO stage tag")

    with monkeypatch.context() as patched:
        patched.setattr(gto, "read_events", unexpected)
        assert mr710(capsys) == (0, [])
    code, out, _ = cli(capsys, "list")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "MODEL", "VERSION", "STATUS", "TAG", "TAGGED", "ENVIRONMENTS"
    ]  # fmt: skip


# -- the grammar and the replay, against GTO's own code ---------------------------------

TAG_NAMES = [
    "bert@v1.0.0", "bert@v1.0.0#3", "bert@v1.0.0!", "bert@v1.0.0!#4", "bert#prod", "bert#prod#2",
    "bert#prod!", "bert#prod!#5", "bert@deprecated", "bert@deprecated#6", "bert@created",
    "dir/sub=bert#prod#1", "a/b_c-d@v2.0.0-rc.1+build.5", "bert@v1.0", "bert@1.0.0",
    "bert#prod#", "bert#-prod", "bert#prod#x", "-bert#prod", "model-bert-v1.1.0", "bert#p",
    "bert@v01.0.0", "bert#prod!!", "bert@deprecated!", "x#y#1#2", "b#stage_1/x",
]  # fmt: skip


def test_tag_grammar_is_gtos() -> None:
    parse_name: Any = importlib.import_module("gto.tag").parse_name
    for name in TAG_NAMES:
        theirs = parse_name(name, raise_on_fail=False)
        ours = gto.parse(name)
        if name.endswith("@created"):
            # GTO's parse has no action for it (and every GTO command then fails).
            assert ours is not None and ours.action == gto.CREATE and "action" not in theirs
            continue
        if not theirs:
            assert ours is None, name
            continue
        assert ours is not None, name
        assert (ours.artifact, ours.action, ours.version, ours.stage, ours.counter) == (
            theirs["name"],
            theirs["action"].value,
            theirs.get("version"),
            theirs.get("stage"),
            theirs.get("counter"),
        ), name


@pytest.mark.slow
def test_stages_match_gto_show_on_random_histories_with_ties(tmp_path: Path) -> None:
    """Tags made with git at chosen times (many in the same second) in random orders:
    modelreg's stages and deprecation state equal `gto show --json -d` every time."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commits = []
    for n in range(4):
        (root / "f").write_text(str(n), encoding="utf-8")
        git(root, "add", "f")
        git(
            root,
            "commit",
            "-q",
            "-m",
            f"c{n}",
            env={"GIT_COMMITTER_DATE": f"@{1_700_000_000 + n} +0000"},
        )
        commits.append(git(root, "rev-parse", "HEAD").strip())
    rng = random.Random(18)
    base = 1_700_001_000
    for _scenario in range(8):
        for tag in git(root, "tag", "-l").split():
            git(root, "tag", "-d", tag)
        counter = 0
        made: list[tuple[str, str, int, bool]] = []  # tag, commit, time, annotated
        for artifact in ("m", "n"):
            versions = rng.sample(range(3), k=rng.randint(1, 3))
            for i, commit_index in enumerate(versions):
                made.append(
                    (f"{artifact}@v1.{i}.0", commits[commit_index], base + rng.randint(0, 2), True)
                )
                if rng.random() < 0.2:
                    counter += 1
                    made.append(
                        (
                            f"{artifact}@v1.{i}.0!#{counter}",
                            commits[commit_index],
                            base + rng.randint(2, 5),
                            True,
                        )
                    )
            for _ in range(rng.randint(1, 6)):
                counter += 1
                stage = rng.choice(["prod", "staging"])
                cancel = "!" if rng.random() < 0.3 else ""
                simple = rng.random() < 0.2
                name = f"{artifact}#{stage}{cancel}" + ("" if simple else f"#{counter}")
                target = commits[rng.choice([*versions, 3])]  # 3: never registered
                made.append((name, target, base + rng.randint(2, 5), rng.random() > 0.1))
            if rng.random() < 0.3:
                counter += 1
                made.append(
                    (f"{artifact}@deprecated#{counter}", commits[0], base + rng.randint(3, 6), True)
                )
        seen: set[str] = set()
        for name, commit, when, annotated in made:
            if name in seen:
                continue
            seen.add(name)
            env = {"GIT_COMMITTER_DATE": f"@{when} +0000"}
            if annotated:
                git(root, "tag", "-a", name, "-m", name, commit, env=env)
            else:
                git(root, "tag", name, commit)
        done = run_gto(root, "show", "--json", "-d", ok=False)
        state = gto.read(open_repo(root))
        if done.returncode != 0:
            assert "Multiple versions" in done.stderr, done.stderr
            assert any(a.problem for a in state.artifacts.values())
            continue
        assert modelreg_view(root) == gto_show(root), made


# -- the pull request is the attacker ---------------------------------------------------


@pytest.mark.slow
def test_a_symlinked_gto_yaml_is_refused_not_followed(pr: Any) -> None:
    """overlays/gto.yaml committed as a link to a file beside the repository: MR710 says it
    cannot be read, its content never appears, and no read-only command writes anything."""
    canary = pr.outside / "canary.txt"
    canary.write_text("stages:\n  production: secret-stage\n", encoding="utf-8")
    pr.symlink("overlays/gto.yaml", canary)
    pr.commit("map stages")
    pr.snapshot()
    for result in pr.read_only():
        assert "secret-stage" not in result.out + result.err, str(result)
    result = pr.run("validate", "--fast", "--select", "MR710")
    assert result.code == 1, str(result)
    assert [line for line in result.out.splitlines() if " MR710 " in line] == [
        "overlays/gto.yaml: MR710 cannot be read: gto.yaml is a symlink; modelreg and "
        "kustomize must not follow it; GTO stages were not compared with the environments "
        "(docs/gto.md)"
    ], str(result)
    pr.assert_untouched("validate --select MR710")
