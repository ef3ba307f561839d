"""Hardening: what the bad-input corpus found, and the guards that keep data from acting."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import Registry
from modelreg.cli import main

META_11 = "models/demo/1.1.0/metadata.yaml"


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
def test_a_non_finite_metric_is_a_finding_and_render_refuses_cleanly(
    registry: Registry, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """JSON Schema's ranges never fail on NaN; the schema step says it instead."""
    registry.replace(META_11, "accuracy: 0.8", f"accuracy: {value}")
    assert main(["validate", "--fast"]) == 1
    out = capsys.readouterr().out
    assert f"{META_11}:40:15: MR104 evaluation.metrics.accuracy: " in out
    assert "is not a finite number" in out
    assert "MR901" not in out  # no check crashed on it (the registry page did, before)
    assert main(["render", "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{META_11}:40:15: MR104" in err
    assert "unexpected error" not in err


def test_a_release_date_in_the_future_is_a_finding(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    registry.replace(META_11, "release_date: 2024-01-22", f"release_date: {future}")
    assert main(["validate", "--fast", "--select", "MR510"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{META_11}:3:15: MR510 release_date {future} is in the future")


def test_todays_release_date_passes(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    registry.replace(META_11, "release_date: 2024-01-22", f"release_date: {today}")
    assert main(["validate", "--fast", "--select", "MR510"]) == 0, capsys.readouterr().out
