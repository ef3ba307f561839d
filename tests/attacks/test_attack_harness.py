"""The harness itself: an honest pull request passes every read-only command, untouched."""

from __future__ import annotations

import pytest

from attack_support import READ_ONLY, PullRequest


@pytest.mark.slow
def test_honest_pr_passes_every_read_only_command(pr: PullRequest) -> None:
    results = pr.read_only()
    assert [r.code for r in results] == [0] * len(READ_ONLY), "\n".join(map(str, results))


@pytest.mark.parametrize(
    ("rel", "where"),
    [(".git/hooks/pre-commit", "hooks/pre-commit"), ("../outside/canary.txt", "canary.txt")],
)
def test_the_guard_sees_a_write_into_git_and_beside_the_repo(
    pr: PullRequest, rel: str, where: str
) -> None:
    pr.snapshot()
    (pr.root / rel).write_text("#!/bin/sh\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=where):
        pr.assert_untouched(f"{rel} written")
