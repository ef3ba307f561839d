"""ci-matrix and error lines on a hostile branch: no skipped job, no forged workflow command."""

from __future__ import annotations

import shutil

from attack_support import PullRequest

MODEL = "models/bert-classifier"


def test_a_symlinked_version_fails_ci_matrix_instead_of_emptying_it(pr: PullRequest) -> None:
    copy = pr.outside / "1.2.0"
    shutil.copytree(pr.root / MODEL / "1.1.0", copy)
    pr.symlink(f"{MODEL}/1.2.0", copy)
    pr.commit("a version that lives outside the repository")
    pr.snapshot()
    result = pr.run("ci-matrix", "--base", "main", "--output", "github")
    assert result.code == 1, result
    assert result.out == ""  # no matrix: the validate job cannot be skipped by an empty one
    assert f"{MODEL}/1.2.0 (-> {copy})" in result.err
    assert "MR006" in result.err
    pr.assert_untouched(str(result))


def test_a_symlinked_overlay_file_fails_ci_matrix(pr: PullRequest) -> None:
    pr.symlink("overlays/production/extra.yaml", pr.outside / "canary.txt")
    pr.commit("an overlay file that is a link")
    result = pr.run("ci-matrix", "--base", "main")
    assert result.code == 1, result
    assert "overlays/production/extra.yaml" in result.err
    assert "secret beside the repository" not in result.out + result.err


def test_an_error_line_cannot_start_a_workflow_command(pr: PullRequest) -> None:
    # A link text is the PR author's: it is quoted in the error, on lines that stay inert.
    pr.symlink(f"{MODEL}/1.2.0", "x\n::stop-commands::pwned\n##[error]forged")
    pr.commit("a link whose text carries workflow commands")
    result = pr.run("ci-matrix", "--base", "main", "--output", "github")
    assert result.code == 1, result
    for line in result.err.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line


def test_the_gate_does_not_follow_a_symlinked_evaluation_file(pr: PullRequest) -> None:
    # A byte-identical copy outside: followed, the gate would hash and score it as genuine.
    data = f"{MODEL}/data/eval.npz"
    copy = pr.outside / "eval.npz"
    shutil.copy2(pr.root / data, copy)
    pr.symlink(data, copy)
    pr.commit("evaluation data that lives outside the repository")
    pr.snapshot()
    result = pr.run("gate", "bert-classifier", "1.0.0", "--runs", "10")
    assert result.code == 1, result
    assert data in result.err and "symlink" in result.err, result
    pr.assert_untouched(str(result))
