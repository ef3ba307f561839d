"""``modelreg bench``: nearest-rank percentiles and side-by-side figures on real sessions."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Registry
from modelreg.cli import main
from modelreg.onnx.timing import nearest_rank


@pytest.mark.parametrize(
    ("percent", "expected"), [(50, 50.0), (90, 90.0), (99, 99.0), (100, 100.0), (0.5, 1.0)]
)
def test_nearest_rank_on_1_to_100(percent: float, expected: float) -> None:
    assert nearest_rank([float(v) for v in range(1, 101)], percent) == expected


def test_nearest_rank_small_samples() -> None:
    assert nearest_rank([3.0, 7.0, 9.0], 50) == 7.0  # ceil(1.5) = 2nd value
    assert nearest_rank([3.0, 7.0, 9.0], 99) == 9.0
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 50)


def test_side_by_side_table(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "demo@1.0.0", "demo@1.1.0", "--runs", "50", "--warmup", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| Version | p50 ms | p90 ms | p99 ms | max ms | p50 ratio |"
    row = re.compile(r"^\| demo@1\.(0|1)\.0 \| (\d+\.\d{3} \| ){4}\d+\.\d{3} \|$")
    assert row.match(out[2]) and row.match(out[3]), out
    assert out[2].endswith("| 1.000 |")
    assert out[5].startswith("50 runs each after 5 warm-up, interleaved; batch 1; ")
    assert "fingerprint " in out[5]


def test_json_fits_the_metadata_latency_block(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from jsonschema import Draft202012Validator

    from modelreg.schemas import load_schema

    assert main(["bench", "demo@1.1.0", "--runs", "20", "--output", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (result,) = report["results"]
    assert result["p50_ms"] <= result["p90_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["input_shapes"] == {"input_ids": [1, 3]}
    latency = {k: v for k, v in result.items() if k != "target"}
    latency["environment"] = report["environment"]
    schema = load_schema("metadata")
    validator = Draft202012Validator({**schema["$defs"]["latency"], "$defs": schema["$defs"]})
    assert list(validator.iter_errors(latency)) == []


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("demo", "write MODEL@VERSION"),
        ("demo@9.9.9", "demo has no version 9.9.9 (1.0.0, 1.1.0)"),
        ("nope@1.0.0", "no model `nope` (models: demo)"),
    ],
)
def test_unknown_target_is_a_usage_error(
    registry: Registry, capsys: pytest.CaptureFixture[str], target: str, says: str
) -> None:
    assert main(["bench", target]) == 2
    assert says in capsys.readouterr().err


def test_progress_bar_on_a_terminal_only(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelreg.onnx import measure
    from modelreg.onnx.timing import measure as timed

    model = registry.path("models/demo/1.1.0/model.onnx")
    inputs = [str(registry.path("models/demo/1.1.0/test_data_set_0/input_0.pb"))]
    timed([{"model": str(model), "inputs": inputs}], runs=40, warmup=1, progress=True)
    err = capsys.readouterr().err
    assert err.endswith("timing 1 version(s) [##############################] 40/40\n")
    # Who decides: a terminal on stderr, unless CI or NO_PROGRESS says otherwise.
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("NO_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert measure.show_progress()
    monkeypatch.setenv("CI", "true")
    assert not measure.show_progress()
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not measure.show_progress()


@pytest.mark.parametrize("cpu_time", [False, True])
def test_wall_span_holds_only_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_time: bool
) -> None:
    """The wall clock brackets ``session.run`` and nothing else, like a plain
    ``t0 = perf_counter_ns(); session.run(None, feeds); t1`` loop, with or without CPU time.

    Fake clocks advance 1 ms per event of a shared log, so a sample counts the events inside
    its span: no timing is asserted.
    """
    import time
    from types import SimpleNamespace

    import numpy as np
    from onnx import numpy_helper

    from modelreg.onnx import timing

    log: list[str] = []

    def tick(kind: str) -> Callable[[], int]:
        def read() -> int:
            log.append(kind)
            return len(log) * 1_000_000

        return read

    class FakeSession:
        def get_inputs(self) -> list[SimpleNamespace]:
            return [SimpleNamespace(name="input_ids")]

        def run(self, _outputs: None, feeds: dict[str, Any]) -> list[Any]:
            assert feeds["input_ids"].shape == (1, 3)  # batch 1: the first row
            log.append("run")
            return []

    pb = tmp_path / "input_0.pb"
    pb.write_bytes(numpy_helper.from_array(np.ones((4, 3), np.int64)).SerializeToString())
    monkeypatch.setattr(timing, "cpu_session", lambda _path, pinned: FakeSession())
    monkeypatch.setattr(time, "perf_counter_ns", tick("wall"))
    monkeypatch.setattr(time, "thread_time_ns", tick("cpu"))
    target = {"model": str(tmp_path / "model.onnx"), "inputs": [str(pb)], "cpu_time": cpu_time}
    measured = timing.measure([target], runs=3, warmup=2)

    # Each sample is 2 events: the run itself and the closing read of the wall clock.
    assert measured["results"][0]["p50_ms"] == measured["results"][0]["max_ms"] == 2.0
    runs = log[log.index("run") + 2 :]  # after the two warm-up runs
    if cpu_time:
        assert runs == ["cpu", "wall", "run", "wall", "cpu"] * 3
        assert measured["cpu"][0]["p50_ms"] == 4.0  # two wall reads, the run, the closing read
    else:
        assert runs == ["wall", "run", "wall"] * 3
        assert measured["cpu"] == [None]
