"""Attack: planted crash-recovery state (issue #17, point 1).

modelreg 0.x kept its write journal (``.modelreg.journal``) and lock in the work tree and
replayed the journal from any command, ``validate --fast`` included: a pull request could
commit one whose renames put its own ``.git/config`` (``core.fsmonitor``: a command git runs)
and ``.git/hooks/pre-commit`` in place on the reviewer's machine. Now the journal lives in the
git dir, only a writer holding the lock replays it, every path is checked first, and a state
file in the work tree is reported (MR005) and otherwise ignored.
"""

from __future__ import annotations

import json

import pytest

from attack_support import PullRequest

FSMONITOR_CONFIG = """\
[core]
\trepositoryformatversion = 0
\tfsmonitor = "touch ../outside/pwned-by-fsmonitor"
"""
HOOK = "#!/bin/sh\ntouch ../outside/pwned-by-hook\n"
#: The planted journal in the format modelreg 0.x replayed: relative renames into .git.
PLANTED = {
    "pid": 999999,
    "moves": [["payload/config", ".git/config"], ["payload/pre-commit", ".git/hooks/pre-commit"]],
    "remove": [],
}


def plant(pr: PullRequest) -> None:
    """The attacker's commit: a journal, a lock naming a dead process, and the payload."""
    pr.write("payload/config", FSMONITOR_CONFIG)
    pr.write("payload/pre-commit", HOOK).chmod(0o755)
    pr.write(".modelreg.journal", json.dumps(PLANTED))
    pr.write(".modelreg.lock", "999999 modelreg add\n")
    pr.write("models/bert-classifier/.add.lock", "999999 modelreg add\n")
    pr.commit("innocent-looking change")


def assert_payload_not_moved(pr: PullRequest) -> None:
    assert "fsmonitor" not in pr.path(".git/config").read_text(encoding="utf-8")
    assert not pr.path(".git/hooks/pre-commit").exists()
    assert pr.path("payload/config").read_text(encoding="utf-8") == FSMONITOR_CONFIG
    assert pr.path(".modelreg.journal").is_file()
    assert not list(pr.outside.glob("pwned*"))


def assert_untouched_but_the_lock(pr: PullRequest, what: str) -> None:
    """The guard, after a writer: its (empty, released) lock file is the one new thing."""
    lock = pr.path(".git/modelreg/lock")
    assert lock.read_text(encoding="utf-8") == "", what  # emptied on release, not deleted
    lock.unlink()
    state = lock.parent
    if not any(state.iterdir()):
        state.rmdir()
    pr.assert_untouched(what)


MR005 = {
    ".modelreg.journal": "write journal",
    ".modelreg.lock": "lock file",
    "models/bert-classifier/.add.lock": "lock file",
}


@pytest.mark.slow
def test_a_committed_journal_is_reported_and_never_replayed_by_a_reader(pr: PullRequest) -> None:
    plant(pr)
    results = {r.argv: r for r in pr.read_only()}
    assert_payload_not_moved(pr)
    for argv in (("validate", "--fast"), ("validate",)):
        result = results[argv]
        assert result.code == 1, str(result)
        mr005 = [line for line in result.out.splitlines() if " MR005 " in line]
        assert mr005 == [
            f"{path}: MR005 a modelreg {what} in the work tree: modelreg keeps its journal and "
            "locks in the git directory and ignores this file (never reads or replays it); "
            "delete it from the pull request"
            for path, what in sorted(MR005.items())
        ], str(result)


@pytest.mark.parametrize("argv", [("render",), ("overlays",)])
def test_a_writer_does_not_replay_a_committed_journal(pr: PullRequest, argv: tuple[str]) -> None:
    plant(pr)
    pr.snapshot()
    result = pr.run(*argv)
    assert result.code == 0, str(result)
    assert_payload_not_moved(pr)
    assert_untouched_but_the_lock(pr, str(result))


def test_a_committed_temporary_symlink_is_not_written_through(pr: PullRequest) -> None:
    """The page's temporary name, committed as a symlink to a hook: render replaces it."""
    pr.path("MODEL_REGISTRY.md").unlink()  # so that `modelreg render` writes the page
    pr.symlink(".MODEL_REGISTRY.md.modelreg-new", ".git/hooks/pre-commit")
    pr.symlink("docs/.DEVELOPMENT.md.modelreg-new", "../../outside/canary.txt")
    pr.commit("page removed, temporaries planted")
    pr.snapshot()
    result = pr.run("render")
    assert result.code == 0, str(result)
    assert "wrote MODEL_REGISTRY.md" in result.err
    page = pr.path("MODEL_REGISTRY.md")
    assert page.is_file() and not page.is_symlink()
    assert not pr.path(".MODEL_REGISTRY.md.modelreg-new").is_symlink()
    assert_untouched_but_the_lock(pr, str(result))


@pytest.mark.parametrize(
    ("moves", "remove", "why"),
    [
        ([["payload/.config", ".git/config"]], [], "inside .git"),
        ([["payload/.pre-commit", ".git/hooks/pre-commit"]], [], "inside .git"),
        ([["payload/.config", "../outside/canary.txt"]], [], "only plain relative paths"),
        ([], ["../outside/canary.txt"], "only plain relative paths"),
        ([["escape/.config", "escape/canary.txt"]], [], "is a symlink"),
    ],
)
def test_a_journal_in_the_git_dir_that_leaves_the_work_tree_is_refused(
    pr: PullRequest, moves: list[list[str]], remove: list[str], why: str
) -> None:
    pr.write("payload/.config", FSMONITOR_CONFIG)
    pr.write("payload/.pre-commit", HOOK)
    pr.write("models/bert-classifier/.card.modelreg-new", "replaced\n")
    pr.symlink("escape", pr.outside)
    first = ["models/bert-classifier/.card.modelreg-new", "models/bert-classifier/CARD.txt"]
    journal = pr.path(".git/modelreg/journal")
    journal.parent.mkdir()
    doc = {"version": 1, "root": str(pr.root.resolve()), "pid": 1, "moves": [first, *moves]}
    journal.write_text(json.dumps({**doc, "remove": remove}), encoding="utf-8")
    pr.snapshot()
    result = pr.run("render")
    assert result.code == 1, str(result)
    assert result.err.count("\n") == 1, str(result)
    assert result.err.startswith(f"modelreg: error: {journal.resolve()} names "), str(result)
    assert why in result.err and f"delete it (rm {journal.resolve()})" in result.err
    assert not pr.path("models/bert-classifier/CARD.txt").exists()  # not even the good move
    assert journal.is_file()
    assert_untouched_but_the_lock(pr, str(result))
    assert (pr.outside / "canary.txt").read_text(encoding="utf-8").startswith("secret")
    assert "fsmonitor" not in pr.path(".git/config").read_text(encoding="utf-8")
