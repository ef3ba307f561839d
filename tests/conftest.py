"""Shared fixtures: small real registries built in ``tmp_path``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

# The hostile pull request of tests/attacks/ (fixtures `pr`, `_base_registry`).
from attack_support import _base_registry, pr  # noqa: F401 (fixtures used by name)

#: model.yaml of the demo model up to its lifecycle; tests append the lifecycle they need.
MODEL_HEAD = """\
name: demo
title: Demo Classifier
description: A two-class demo model.
task: text-classification
tag_prefix: model-demo
owners:
  - "@acme/ml"
labels: [negative, positive]
lifecycle:
"""

MODEL_YAML = (
    MODEL_HEAD
    + """\
  1.0.0:
    status: supported
    supported_until: 2099-03-01
    note: Legacy support
  1.1.0:
    status: production
    note: Recommended version
"""
)


def metadata_yaml(
    version: str, date: str, sha256: str, size: int, eval_sha: str = "ab" * 32
) -> str:
    """A complete, schema-valid metadata.yaml for a demo version."""
    return textwrap.dedent(
        f"""\
        model: demo
        version: {version}
        release_date: {date}
        summary: Demo release {version}.
        changes:
          - Something changed
        artifact:
          path: model.onnx
          sha256: {sha256}
          size: {size}
        onnx:
          ir_version: 8
          opsets:
            ai.onnx: 17
          producer:
            name: pytorch
            version: "2.1"
          inputs:
            - name: input_ids
              type:
                tensor: int64
                shape: [batch, sequence]
          outputs:
            - name: logits
              type:
                tensor: float
                shape: [batch, 2]
        training:
          dataset:
            name: sentiment-analysis
            version: "1.0"
            samples: 50000
        evaluation:
          data:
            path: ../data/eval.npz
            sha256: {eval_sha}
            samples: 10
          output: logits
          metrics:
            accuracy: 0.8
            f1:
              value: 0.8
              average: binary
        test_vectors:
          - path: test_data_set_0
            rtol: 0.00001
            atol: 0.000001
        """
    )


@dataclass
class Registry:
    """A registry on disk, with helpers to break it."""

    root: Path

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text(encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        p = self.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def replace(self, rel: str, old: str, new: str) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new, 1))


def demo_model(weight: float = 0.5, custom_domain: bool = False) -> onnx.ModelProto:
    """A real model matching :func:`metadata_yaml`'s ``onnx`` block.

    input_ids int64 [batch, sequence] -> Cast -> ReduceMean over the sequence -> MatMul ->
    logits float [batch, 2]; producer pytorch 2.1, IR 8, opset 17.
    """
    weights = numpy_helper.from_array(np.array([[weight, -weight]], dtype=np.float32), "W")
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f"], ["m"], axes=[1], keepdims=1),
        helper.make_node("MatMul", ["m", "W"], ["logits"]),
    ]
    opsets = [helper.make_opsetid("", 17)]
    if custom_domain:
        nodes.append(helper.make_node("Noop", ["logits"], ["unused"], domain="com.acme"))
        opsets.append(helper.make_opsetid("com.acme", 1))
    graph = helper.make_graph(
        nodes,
        "demo",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=opsets, producer_name="pytorch")
    model.producer_version = "2.1"
    model.ir_version = 8
    return model


GOLDEN_INPUT = np.array([[3, 1, 4], [1, 5, 9]], dtype=np.int64)


def write_vectors(directory: Path, model_bytes: bytes) -> None:
    """Golden vectors: a fixed input and what onnxruntime computes from it."""
    import onnxruntime as ort

    directory.mkdir(parents=True, exist_ok=True)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input_ids": GOLDEN_INPUT})
    (directory / "input_0.pb").write_bytes(
        numpy_helper.from_array(GOLDEN_INPUT, "input_ids").SerializeToString()
    )
    (directory / "output_0.pb").write_bytes(
        numpy_helper.from_array(logits, "logits").SerializeToString()
    )


def write_eval_data(path: Path) -> str:
    """Ten labelled rows whose scores are known by construction; returns the file's sha256.

    The demo model predicts class 0 when the mean of input_ids is positive, else class 1.
    Rows 0-4 have a positive mean, rows 5-9 a negative one; labels make row 4 a false
    negative and row 9 a false positive: accuracy 8/10 and binary F1 2*4/(2*4+1+1) = 0.8.
    """
    rows = [[1, 2, 3]] * 5 + [[-1, -2, -3]] * 5
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez(fh, input_ids=np.array(rows, dtype=np.int64), labels=np.array(labels))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_version(
    root: Path, version: str, date: str, payload: bytes, eval_sha: str = "ab" * 32
) -> None:
    """Write a version directory with an artifact and matching metadata."""
    vdir = root / "models" / "demo" / version
    vdir.mkdir(parents=True, exist_ok=True)
    (vdir / "model.onnx").write_bytes(payload)
    write_vectors(vdir / "test_data_set_0", payload)
    sha = hashlib.sha256(payload).hexdigest()
    (vdir / "metadata.yaml").write_text(
        metadata_yaml(version, date, sha, len(payload), eval_sha), encoding="utf-8"
    )


GIT_IDENTITY = ("-c", "user.name=modelreg tests", "-c", "user.email=tests@modelreg.invalid")


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``root`` (with a fixed identity) and return its stdout."""
    done = subprocess.run(
        ["git", "-C", str(root), *GIT_IDENTITY, *args],
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def git_commit_all(root: Path, message: str) -> str:
    """``git init`` (once), add everything, commit; return the commit id.

    A registry lives in git: the release rules (MR7xx) read tags and trees from it.
    """
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def make_registry(tmp_path: Path) -> Callable[[], Registry]:
    """Build a valid two-version registry at ``tmp_path/reg``."""

    def build() -> Registry:
        root = tmp_path / "reg"
        (root / "models" / "demo").mkdir(parents=True)
        (root / "models" / "demo" / "model.yaml").write_text(MODEL_YAML, encoding="utf-8")
        eval_sha = write_eval_data(root / "models" / "demo" / "data" / "eval.npz")
        add_version(root, "1.0.0", "2024-01-15", demo_model(0.25).SerializeToString(), eval_sha)
        add_version(root, "1.1.0", "2024-01-22", demo_model(0.5).SerializeToString(), eval_sha)
        git_commit_all(root, "demo registry")
        return Registry(root)

    return build


@pytest.fixture
def registry(make_registry: Callable[[], Registry], monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A valid registry, with the current directory set to its root."""
    reg = make_registry()
    monkeypatch.chdir(reg.root)
    return reg
