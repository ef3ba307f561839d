"""The harness itself: an honest pull request passes every read-only command, untouched."""

from __future__ import annotations

from attack_support import READ_ONLY, PullRequest


def test_honest_pr_passes_every_read_only_command(pr: PullRequest) -> None:
    results = pr.read_only()
    assert [r.code for r in results] == [0] * len(READ_ONLY), "\n".join(map(str, results))


def test_the_guard_sees_a_write_into_git_and_beside_the_repo(pr: PullRequest) -> None:
    pr.snapshot()
    (pr.root / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\n", encoding="utf-8")
    try:
        pr.assert_untouched("hook written")
    except AssertionError as exc:
        assert "hooks/pre-commit" in str(exc)
    else:
        raise AssertionError("the guard missed a new file under .git/hooks")
    pr.snapshot()
    (pr.outside / "canary.txt").write_text("changed\n", encoding="utf-8")
    try:
        pr.assert_untouched("canary written")
    except AssertionError as exc:
        assert "canary.txt" in str(exc)
    else:
        raise AssertionError("the guard missed a changed file beside the repository")
