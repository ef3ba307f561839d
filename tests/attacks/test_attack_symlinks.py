"""A pull request that commits symlinks: modelreg reports each link (MR006) and reads nothing
behind it; evaluation data is bounded before anything is decompressed (MR409).

Each link points outside the repository: at the canary file beside it (whose content must never
be echoed) or at a copy of a valid part of the registry (which would pass if it were followed).
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from attack_support import PullRequest

CANARY = "secret beside the repository"
MODEL = "models/bert-classifier"
V11 = f"{MODEL}/1.1.0"
TAIL = "— modelreg never follows symlinks in a registry: commit the file itself"


def mr006(rel: str, target: Path | str) -> str:
    """The exact MR006 line for the link at ``rel``."""
    return f"{rel}: MR006 {rel} is a symlink (to {target}) {TAIL}"


def copy_out(pr: PullRequest, rel: str, name: str) -> Path:
    """A copy of the registry path ``rel`` beside the repository (valid if followed)."""
    source, target = pr.path(rel), pr.outside / name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return target


def assert_refused(pr: PullRequest, line: str) -> None:
    """Every read-only command keeps .git and the canary untouched and never echoes the canary;
    fast and deep validate exit 1 naming the link (its MR006 line, exactly)."""
    results = pr.read_only()
    for result in results:
        assert CANARY not in result.out + result.err, str(result)
    fast, deep = results[0], results[1]
    assert fast.argv == ("validate", "--fast") and deep.argv == ("validate",)
    for result in (fast, deep):
        assert result.code == 1, str(result)
        lines = result.out.splitlines()
        assert line in lines, str(result)
        assert sum(" MR006 " in x for x in lines) == 1, str(result)  # one finding per link


@pytest.mark.slow
def test_symlinked_version_directory(pr: PullRequest) -> None:
    outside = copy_out(pr, V11, "9.9.9")
    meta = outside / "metadata.yaml"
    meta.write_text(meta.read_text().replace("version: 1.1.0", "version: 9.9.9"))
    pr.replace(f"{MODEL}/model.yaml", "gates:", "  9.9.9:\n    status: candidate\ngates:")
    pr.symlink(f"{MODEL}/9.9.9", outside)
    pr.commit("a version that lives elsewhere")
    assert_refused(pr, mr006(f"{MODEL}/9.9.9", outside))
    # The path itself, as a hook or the PR workflow names it: never a pass of 0 versions.
    for argv in (
        ("validate", f"{MODEL}/9.9.9"),
        ("validate", "--fast", f"{MODEL}/9.9.9/metadata.yaml"),
        ("validate", "--select", "MR2,MR3,MR4,MR9", f"{MODEL}/9.9.9/model.onnx"),
    ):
        result = pr.run(*argv)
        assert result.code == 1, str(result)
        assert result.out == mr006(f"{MODEL}/9.9.9", outside) + "\n", str(result)


@pytest.mark.slow
def test_symlinked_model_directory(pr: PullRequest) -> None:
    outside = copy_out(pr, MODEL, "evil")
    pr.symlink("models/evil", outside)
    pr.commit("a model that lives elsewhere")
    assert_refused(pr, mr006("models/evil", outside))
    result = pr.run("validate", "models/evil/model.yaml")
    assert (result.code, result.out) == (1, mr006("models/evil", outside) + "\n"), str(result)


@pytest.mark.slow
def test_symlinked_models_directory(pr: PullRequest) -> None:
    outside = copy_out(pr, "models", "models")
    pr.symlink("models", outside)
    pr.commit("the whole registry lives elsewhere")
    assert_refused(pr, mr006("models", outside))


@pytest.mark.parametrize(
    "rel", [f"{V11}/metadata.yaml", f"{MODEL}/model.yaml", f"{V11}/test_data_set_0/input_0.pb"]
)
@pytest.mark.slow
def test_symlinked_file_to_the_canary(pr: PullRequest, rel: str) -> None:
    canary = pr.outside / "canary.txt"
    pr.symlink(rel, canary)
    pr.commit("a file that reads the reviewer's secrets")
    assert_refused(pr, mr006(rel, canary))


@pytest.mark.parametrize("rel", [f"{V11}/model.onnx", f"{MODEL}/data/eval.npz"])
@pytest.mark.slow
def test_symlinked_artifact_or_eval_data(pr: PullRequest, rel: str) -> None:
    outside = copy_out(pr, rel, Path(rel).name)  # the very bytes: it would pass if followed
    pr.symlink(rel, outside)
    pr.commit("bytes that live elsewhere")
    assert_refused(pr, mr006(rel, outside))


def test_path_that_selects_nothing_is_a_usage_error(pr: PullRequest) -> None:
    pr.snapshot()
    for argv in (("validate", "overlays"), ("validate", "--fast", "MODEL_REGISTRY.md")):
        result = pr.run(*argv)
        assert (result.code, result.out) == (2, ""), str(result)
        assert result.err.startswith("modelreg: error: nothing to validate: "), str(result)
        assert result.err.count("\n") == 1
    pr.assert_untouched("nothing selected")


# -- evaluation data bounded before decompression ------------------------------------------------


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header for int64 data of ``shape`` (what numpy.save writes)."""
    text = f"{{'descr': '<i8', 'fortran_order': False, 'shape': {shape}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    body = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def _point_eval_at(pr: PullRequest, data: Path) -> str:
    """Make 1.1.0 claim ``data`` (hash and all, as an attacker would) as its evaluation file."""
    rel = f"{MODEL}/data/{data.name}"
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    old = pr.path(f"{V11}/metadata.yaml").read_text()
    old_sha = old.split("path: ../data/eval.npz\n    sha256: ", 1)[1].split("\n", 1)[0]
    pr.replace(f"{V11}/metadata.yaml", f"path: ../data/eval.npz\n    sha256: {old_sha}",
               f"path: ../data/{data.name}\n    sha256: {sha}")  # fmt: skip
    return rel


def _max_rss_mb(pr: PullRequest, *argv: str) -> tuple[int, float]:
    """Exit code and the peak RSS (MiB) of modelreg and every child it waited for."""
    script = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run([sys.executable, '-m', 'modelreg', *sys.argv[1:]],"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=pr.root,
        env=pr.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    code, kib = done.stdout.split()
    return int(code), int(kib) / 1024


@pytest.mark.slow
def test_zip_bomb_eval_data_is_refused_without_decompressing(pr: PullRequest) -> None:
    data = pr.path(f"{MODEL}/data/bomb.npz")
    rows, width = 2000, 65536  # 1 GiB of int64 zeros, about 1 MiB compressed
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name in ("input_ids", "attention_mask"):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                member.write(_npy_header((rows, width)))
                chunk = bytes(8 * width)
                for _ in range(rows if name == "input_ids" else 1):
                    member.write(chunk)
        # Valid labels: without the bounds, the child would go on to decompress input_ids.
        zf.writestr("labels.npy", _npy_header((rows,)) + bytes(8 * rows))
    rel = _point_eval_at(pr, data)
    pr.commit("an evaluation file that expands to 1 GiB")
    pr.env["MODELREG_MAX_EVAL_MB"] = "256"
    result = pr.run("validate", V11)
    assert result.code == 1, str(result)
    bomb = [line for line in result.out.splitlines() if " MR409 " in line]
    assert bomb and bomb[0].startswith(f"{rel}: MR409 refused before decompressing: "), str(result)
    assert "over the cap of 268435456 (MODELREG_MAX_EVAL_MB)" in result.out, str(result)
    code, peak = _max_rss_mb(pr, "validate", V11)
    assert code == 1
    assert peak < 600, f"peak RSS {peak:.0f} MiB: the archive was decompressed"
    pr.read_only()


@pytest.mark.slow
def test_eval_data_declaring_a_huge_shape_is_refused(pr: PullRequest) -> None:
    data = pr.path(f"{MODEL}/data/huge.npz")
    with zipfile.ZipFile(data, "w", zipfile.ZIP_STORED) as zf:
        # Headers declaring 10**9 rows (256 GB) over a few bytes of data.
        for name in ("input_ids", "attention_mask", "labels"):
            shape = (10**9,) if name == "labels" else (10**9, 32)
            zf.writestr(f"{name}.npy", _npy_header(shape) + bytes(64))
    rel = _point_eval_at(pr, data)
    pr.commit("an evaluation file whose headers lie")
    result = pr.run("validate", V11)
    assert result.code == 1, str(result)
    assert (
        f"{rel}: MR409 refused before decompressing: array `input_ids` declares 256000000000 "
        "bytes of data (int64, [1000000000, 32]) but its member holds 64"
    ) in result.out.splitlines(), str(result)
    code, peak = _max_rss_mb(pr, "validate", V11)
    assert code == 1 and peak < 600, peak
