"""A synthetic registry with many versions and tags, for timing `modelreg list` and validate.

``build(path, models=200, versions=10, extra_tags=8000)`` writes ``models * versions``
version directories (model.yaml with a lifecycle, metadata.yaml, a tiny artifact), commits
them in one commit, and creates one annotated release tag per version plus ``extra_tags``
unrelated annotated tags with ``git fast-import`` (one process, not one per tag).

    python benchmarks/synthetic_tags.py DIR     # build and print the timings
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

IDENT = "Bench <bench@modelreg.invalid> 1700000000 +0000"


def build(
    root: Path, models: int = 200, versions: int = 10, extra_tags: int = 8000, tag_format: str = ""
) -> int:
    """Create the repository at ``root``; return the number of tags.

    ``tag_format="gto"`` names release tags GTO's way (``<name>@v<version>``), so GTO reads
    the same releases as modelreg.
    """
    root.mkdir(parents=True)
    who = {"NAME": "Bench", "EMAIL": "bench@modelreg.invalid"}
    env = {
        **os.environ,
        **{f"GIT_{r}_{k}": v for r in ("AUTHOR", "COMMITTER") for k, v in who.items()},
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    tags: list[str] = []
    for m in range(models):
        name = f"model-{m:04d}"
        mdir = root / "models" / name
        lifecycle = "".join(
            f"  1.{v}.0:\n    status: {'production' if v == versions - 1 else 'retired'}\n"
            for v in range(versions)
        )
        mdir.mkdir(parents=True)
        (mdir / "model.yaml").write_text(
            f"name: {name}\ntitle: Model {m}\ndescription: Synthetic.\ntask: other\n"
            f"tag_prefix: {name}\nowners: ['@acme/ml']\nlabels: [a, b]\n"
            + (f"tag_format: {tag_format}\n" if tag_format else "")
            + f"lifecycle:\n{lifecycle}"
        )
        for v in range(versions):
            version = f"1.{v}.0"
            vdir = mdir / version
            vdir.mkdir()
            payload = f"{name} {version}\n".encode() * 8
            (vdir / "model.onnx").write_bytes(payload)
            (vdir / "metadata.yaml").write_text(
                f"model: {name}\nversion: {version}\nrelease_date: '2024-01-{v + 1:02d}'\n"
                f"summary: Synthetic {version}.\nartifact:\n  path: model.onnx\n"
                f"  sha256: {hashlib.sha256(payload).hexdigest()}\n  size: {len(payload)}\n"
            )
            tags.append(f"{name}@v{version}" if tag_format == "gto" else f"{name}-v{version}")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "commit", "-q", "-m", "synthetic"], check=True, env=env)
    tags += [f"build-{i:05d}" for i in range(extra_tags)]
    stream = []
    for tag in tags:
        message = f"{tag}\n"
        stream.append(f"tag {tag}\nfrom refs/heads/main\ntagger {IDENT}\n"
                      f"data {len(message)}\n{message}\n")  # fmt: skip
    subprocess.run(["git", "-C", str(root), "fast-import", "--quiet"],
                   input="".join(stream).encode(), check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(root), "pack-refs", "--all"], check=True)
    return len(tags)


def median_time(cmd: list[str], cwd: Path, runs: int) -> float:
    """Median whole-process wall time of ``cmd``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str]) -> int:
    """Build the repository in argv[0] and print medians."""
    root = Path(argv[0])
    count = build(root)
    py = sys.executable
    for label, cmd in [
        ("git for-each-ref refs/tags (floor)", ["git", "for-each-ref", "refs/tags"]),
        ("modelreg list", [py, "-m", "modelreg", "list"]),
        ("modelreg validate --fast --select MR7", [py, "-m", "modelreg", "validate", "--fast",
                                                  "--select", "MR7"]),
    ]:  # fmt: skip
        print(f"{label}: {median_time(cmd, root, 11):.3f} s ({count} tags)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
