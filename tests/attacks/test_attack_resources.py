"""Bounded resources, no silent passes (issue #17, point 8), attacked from a pull request.

Each case is built the way a PR author would build it, committed on the ``pr`` branch, and
run as CI runs it (``python -m modelreg`` in a subprocess); the guard proves that ``.git/``
and the files beside the repository stayed byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from attack_support import PullRequest

MODEL_YAML = "models/bert-classifier/model.yaml"
META = "models/bert-classifier/1.1.0/metadata.yaml"

#: One value per pattern-bearing field (``file``, ``old line``, ``new line``): each new
#: value is the old one with a trailing newline, written as a quoted YAML string.
NEWLINE_CASES = (
    (MODEL_YAML, "name: bert-classifier\n", 'name: "bert-classifier\\n"\n'),
    (MODEL_YAML, "tag_prefix: model-bert\n", 'tag_prefix: "model-bert\\n"\n'),
    (MODEL_YAML, '  - "@modelreg/ml-platform"\n', '  - "@modelreg/ml-platform\\n"\n'),
    (MODEL_YAML, "  1.1.0:\n", '  "1.1.0\\n":\n'),
    (MODEL_YAML, "    supported_until: 2024-03-01\n", '    supported_until: "2024-03-01\\n"\n'),
    (META, "model: bert-classifier\n", 'model: "bert-classifier\\n"\n'),
    (META, "version: 1.1.0\n", 'version: "1.1.0\\n"\n'),
    (META, "release_date: '2024-01-22'\n", 'release_date: "2024-01-22\\n"\n'),
    (META, "  path: model.onnx\n", '  path: "model.onnx\\n"\n'),
    (
        META,
        "  sha256: 37afd3b521dc017a7dc67aa8a4482b4c3d1388539606bf55a4d27cc2a7072505\n",
        '  sha256: "37afd3b521dc017a7dc67aa8a4482b4c3d1388539606bf55a4d27cc2a7072505\\n"\n',
    ),
    (META, "    ai.onnx: 18\n", '    "ai.onnx\\n": 18\n'),
    (
        META,
        "        tensor: float\n        shape: [batch, 2]\n",
        '        tensor: float\n        shape: ["batch\\n", 2]\n',
    ),
    (
        META,
        "    sha256: 87868aca0f854650e037bd0fffa30ae828bb1dc010212caef6ede226f58918fc\n",
        '    sha256: "87868aca0f854650e037bd0fffa30ae828bb1dc010212caef6ede226f58918fc\\n"\n',
    ),
    (META, "  - path: test_data_set_0\n", '  - path: "test_data_set_0\\n"\n'),
    (
        META,
        "    samples: 9000\n",
        '    samples: 9000\n    sha256: "' + "ab" * 32 + '\\n"\n',
    ),
    (
        META,
        "    rtol: 0.0001\n    atol: 1.0e-05\n",
        "    rtol: 0.0001\n    atol: 1.0e-05\ndeployment:\n"
        '  config: "triton.pbtxt\\n"\n  resources:\n    limits:\n      cpu: "2\\n"\n',
    ),
)


def _line_of(text: str, needle: str) -> int:
    """1-based line where ``needle`` starts (the line that carries the new value)."""
    start = text.index(needle)
    offset = next(i for i, ch in enumerate(needle) if ch == "\\") if "\\n" in needle else 0
    return text.count("\n", 0, start + offset) + 1


def test_no_pattern_accepts_a_trailing_newline(pr: PullRequest) -> None:
    # Python's `$` matches before a final "\n": `^[0-9a-f]{64}$` accepted "<sha>\n", a name
    # "bert-classifier\n" and a path "model.onnx\n" passed the schema (and flowed on into
    # object names, paths and generated files).
    expected: set[tuple[str, int]] = set()
    for path, old, new in NEWLINE_CASES:
        pr.replace(path, old, new)
    for path, _old, new in NEWLINE_CASES:
        text = pr.path(path).read_text(encoding="utf-8")
        line = _line_of(text, new)
        expected.add((path, line))
    pr.commit("values end in a newline")
    pr.snapshot()
    result = pr.run("validate", "--fast", "--output", "json")
    pr.assert_untouched(str(result))
    assert result.code == 1, str(result)
    schema_lines = {
        (f["path"], f["line"])
        for f in json.loads(result.out)["findings"]
        if f["rule"].startswith("MR1")
    }
    assert sorted(expected - schema_lines) == [], str(result)


# -- a model that hangs the deep child, under every rule filter -----------------------------

VERSION = "models/bert-classifier/1.1.0"


def spinning_model(source: Path) -> bytes:
    """``source`` with an extra Loop of 10**15 empty iterations folded into its output (times
    zero): a valid model, same signature, that never finishes a run."""
    model = onnx.load(str(source))
    graph = model.graph
    name = graph.output[0].name
    for node in graph.node:
        for i, out in enumerate(node.output):
            if out == name:
                node.output[i] = f"{name}_raw"
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, []),
        ],
        [numpy_helper.from_array(np.array(1.0, np.float32), "one")],
    )
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(10**15, np.int64), "spin_trips"),
            numpy_helper.from_array(np.array(True), "spin_cond"),
            numpy_helper.from_array(np.array(0.0, np.float32), "spin_start"),
            numpy_helper.from_array(np.array(0.0, np.float32), "spin_zero"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node(
                "Loop", ["spin_trips", "spin_cond", "spin_start"], ["spin_end"], body=body
            ),
            helper.make_node("Mul", ["spin_end", "spin_zero"], ["spin_nothing"]),
            helper.make_node("Add", [f"{name}_raw", "spin_nothing"], [name]),
        ]
    )
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    return data


@pytest.mark.slow
def test_a_hanging_model_fails_the_run_under_every_filter(pr: PullRequest) -> None:
    pr.env["MODELREG_CHILD_TIMEOUT"] = "20"  # the honest run finishes well within it
    filters = (("--select", "MR404"), ("--select", "MR2"), ("--ignore", "MR902"))
    # The honest version passes each filtered run: a failure below is the model's doing.
    for argv in filters:
        assert pr.run("validate", "--no-cache", *argv, VERSION).code == 0
    data = spinning_model(pr.path(f"{VERSION}/model.onnx"))
    meta = pr.path(f"{VERSION}/metadata.yaml").read_text(encoding="utf-8")
    old_sha = meta.split("  sha256: ")[1].split()[0]
    old_size = meta.split("  size: ")[1].split()[0]
    pr.write(f"{VERSION}/model.onnx", data)
    pr.replace(f"{VERSION}/metadata.yaml", old_sha, hashlib.sha256(data).hexdigest())
    pr.replace(f"{VERSION}/metadata.yaml", f"size: {old_size}\n", f"size: {len(data)}\n")
    pr.commit("a model that never finishes a run")
    pr.snapshot()
    for argv in filters:
        result = pr.run("validate", *argv, VERSION)
        pr.assert_untouched(str(result))
        assert result.code == 1, str(result)
        # Notes and warnings depend on the machine (MR408: latency measured elsewhere).
        errors = [
            line
            for line in result.out.splitlines()
            if ": MR" in line and not re.search(r": MR\d{3} \((note|warning)\) ", line)
        ]
        assert errors == [
            f"{VERSION}/model.onnx: MR902 deep checks died: timed out after 20 s; finished "
            "before that: inspect; the rest is unproven"
        ], str(result)


# -- Ctrl-C -----------------------------------------------------------------------------------


def _alive_in_session(sid: int) -> list[str]:
    """Processes of session ``sid`` that are not zombies (``pid: command``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8", errors="replace")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session
            found.append(f"{entry.name}: {cmd[:120]}")
    return found


@pytest.mark.parametrize("delay", [0.5, 1.5])
def test_ctrl_c_exits_130_with_one_line_and_no_child_left(pr: PullRequest, delay: float) -> None:
    pr.snapshot()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg", "validate"],
        cwd=pr.root,
        env=pr.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own session: every process it starts is findable
    )
    try:
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert (proc.returncode, err.decode()) == (130, "modelreg: interrupted\n")
    deadline = time.monotonic() + 5
    while (left := _alive_in_session(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []
    pr.assert_untouched(f"interrupted after {delay} s")
