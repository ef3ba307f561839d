"""Hardening: what the bad-input corpus found, and the guards that keep data from acting."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import Registry, git_commit_all
from gitops_support import add_overlays
from modelreg.cli import main
from modelreg.gitops import kustomize, policy
from modelreg.render.hooks import HOOKS

META_11 = "models/demo/1.1.0/metadata.yaml"
#: The commands the pre-commit hooks run (from the hook catalog, without file names).
HOOK_COMMANDS = {hook.id: hook.entry.split()[1:] for hook in HOOKS}


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


# -- no network, no code execution from data ----------------------------------------------

SOCKET_GUARD = '''\
"""Installed by tests/test_hardening.py: every Python process of the run refuses sockets."""
import os
import socket

_LOG = os.environ["MODELREG_SOCKET_LOG"]
_Real = socket.socket


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {what}\\n")
    raise OSError(f"socket guard: {what} refused")


class _Guarded(_Real):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family != socket.AF_UNIX:
            _refuse(f"socket({family!r})")
        super().__init__(family, type, proto, fileno)


def _connection(address, *args, **kwargs):
    _refuse(f"create_connection({address!r})")


def _getaddrinfo(host, *args, **kwargs):
    _refuse(f"getaddrinfo({host!r})")


socket.socket = _Guarded
socket.create_connection = _connection
socket.getaddrinfo = _getaddrinfo
'''


def guarded(root: Path, tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``python -m modelreg ARGV`` with the socket guard in it and every Python child."""
    site = tmp_path / "guard"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SOCKET_GUARD, encoding="utf-8")
    log = tmp_path / "sockets.log"
    log.write_text("", encoding="utf-8")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path, "MODELREG_SOCKET_LOG": str(log),
           "MODELREG_NO_CACHE": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "modelreg", *argv],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return done, log.read_text(encoding="utf-8")


def test_the_socket_guard_catches_a_connection(tmp_path: Path) -> None:
    """The guard itself works: a process that tries to connect is logged and refused."""
    site = tmp_path / "guard"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SOCKET_GUARD, encoding="utf-8")
    log = tmp_path / "sockets.log"
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), 1)\nexcept OSError:\n    pass"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "MODELREG_SOCKET_LOG": str(log)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "create_connection(('192.0.2.1', 80))" in log.read_text(encoding="utf-8")


@pytest.fixture
def gitops_registry(make_registry: Callable[[], Registry]) -> Registry:
    """The demo registry with overlays and generated pages, committed: everything applies."""
    reg = make_registry()
    add_overlays(reg.root, {"demo": ["1.1.0"]}, {"demo": "1.1.0"})
    subprocess.run([sys.executable, "-m", "modelreg", "render"], cwd=reg.root, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    git_commit_all(reg.root, "overlays and pages")
    return reg


@pytest.mark.parametrize(
    "argv",
    [
        # The deep runs (validate, the modelreg-onnx hook) take over 3 s (issue #20 item 7).
        pytest.param(["validate"], id="validate-deep", marks=pytest.mark.slow),
        *(
            pytest.param(argv, id=hook, marks=[pytest.mark.slow] if hook == "modelreg-onnx" else [])
            for hook, argv in HOOK_COMMANDS.items()
        ),
        pytest.param(["render"], id="render"),
    ],
)
def test_no_command_opens_a_socket(
    gitops_registry: Registry, tmp_path: Path, argv: list[str]
) -> None:
    done, log = guarded(gitops_registry.root, tmp_path, *argv)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log == "", f"sockets opened: {log}"


def _pickled_eval(reg: Registry, tmp_path: Path) -> Path:
    """An evaluation file whose input array is a pickled object naming module `evil_eval`."""
    module = tmp_path / "evil" / "evil_eval.py"
    module.parent.mkdir()
    module.write_text(
        "import os\n"
        "marker = os.environ.get('EVIL_MARKER')\n"
        "if marker:\n"
        "    open(marker, 'w').write('imported')\n"
        "class Payload:\n"
        "    pass\n",
        encoding="utf-8",
    )
    sys.path.insert(0, str(module.parent))
    try:
        import evil_eval  # type: ignore[import-not-found]  # written just above

        rows = np.empty(10, dtype=object)
        for i in range(10):
            rows[i] = evil_eval.Payload()
        path = reg.path("models/demo/data/eval.npz")
        with path.open("wb") as fh:
            np.savez(fh, input_ids=rows, labels=np.zeros(10, dtype=np.int64))
    finally:
        sys.path.remove(str(module.parent))
        sys.modules.pop("evil_eval", None)
    return module.parent


def test_a_pickled_evaluation_file_is_refused_and_nothing_is_imported(
    registry: Registry, tmp_path: Path
) -> None:
    evil_dir = _pickled_eval(registry, tmp_path)
    sha = hashlib.sha256(registry.path("models/demo/data/eval.npz").read_bytes()).hexdigest()
    for version in ("1.0.0", "1.1.0"):
        meta = registry.read(f"models/demo/{version}/metadata.yaml")
        registry.write(f"models/demo/{version}/metadata.yaml",
                       re.sub(r"(?m)^    sha256: \S+$", f"    sha256: {sha}", meta))  # fmt: skip
    marker = tmp_path / "imported"
    env = {**os.environ, "PYTHONPATH": str(evil_dir), "EVIL_MARKER": str(marker),
           "MODELREG_NO_CACHE": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "modelreg", "validate", "models/demo/1.1.0"],
        cwd=registry.root, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # Refused from the .npy header, before anything is decompressed or unpickled (MR409).
    assert "models/demo/data/eval.npz: MR409" in done.stdout
    assert "allow_pickle" in done.stdout or "pickle" in done.stdout.lower()
    assert "Traceback" not in done.stdout + done.stderr
    assert not marker.exists(), "a module named by the data file was imported"
    # The module really is importable there: the guard above is not vacuous.
    subprocess.run([sys.executable, "-c", "import evil_eval"], env=env, check=True, timeout=60)
    assert marker.exists()


def test_kustomize_runs_with_default_options_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The argv and environment modelreg hands kustomize: no plugins, exec, Helm or loader."""
    seen: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append((list(argv), dict(kwargs["env"])))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setenv("KUSTOMIZE_PLUGIN_HOME", str(tmp_path))
    monkeypatch.setenv("KUSTOMIZE_ENABLE_ALPHA_COMMANDS", "true")
    monkeypatch.setattr("modelreg.gitops.kustomize.subprocess.run", fake_run)
    kustomize.build(tmp_path)
    ((argv, env),) = seen
    # kustomize starts under a /bin/sh wrapper that sets its memory and output limits.
    assert argv == kustomize.limited([*kustomize.command(), str(tmp_path)])
    tool = argv[argv.index(kustomize.command()[0]) :]
    assert tool[1:2] in (["build"], ["kustomize"])
    flags = " ".join(argv)
    for flag in ("--enable-alpha-plugins", "--enable-exec", "--enable-helm", "--load-restrictor",
                 "--enable-star", "--network"):  # fmt: skip
        assert flag not in flags
    assert not [k for k in env if k.startswith("KUSTOMIZE_")]


def test_an_exec_function_in_a_kustomization_never_runs(tmp_path: Path) -> None:
    """Real kustomize on a generator that names an exec KRM function: refused, not run."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    marker = tmp_path / "ran"
    script = overlay / "gen.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n", encoding="utf-8")
    script.chmod(0o755)
    (overlay / "kustomization.yaml").write_text(
        "generators:\n  - generator.yaml\n", encoding="utf-8"
    )
    (overlay / "generator.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Gen\nmetadata:\n  name: gen\n  annotations:\n"
        "    config.kubernetes.io/function: |\n      exec:\n        path: ./gen.sh\n",
        encoding="utf-8",
    )
    with pytest.raises(kustomize.KustomizeError):
        kustomize.build(overlay)
    assert not marker.exists()
    assert tuple(r for r, _m in policy.static_problems(overlay / "kustomization.yaml")) == (
        "MR606",
    )


# -- deployment policy: host access and capabilities (MR620, MR621) -------------------------


def _base_deployment() -> dict[str, Any]:
    """The Deployment of this repository's overlays/base, rendered by real kustomize."""
    root = Path(__file__).resolve().parents[1]
    objects = kustomize.split_objects(kustomize.build(root / "overlays" / "base"), "base")
    (deployment,) = [o for o in objects if o.key[1] == "Deployment"]
    return deployment.data


def _rules(data: dict[str, Any]) -> set[str]:
    obj = kustomize.RenderedObject(("apps", "Deployment", "", "x"), data, "")
    return {rule_id for rule_id, _message in policy.object_problems(obj)}


def test_the_base_workload_passes_the_host_and_capability_rules() -> None:
    assert not _rules(_base_deployment()) & {"MR620", "MR621"}


@pytest.mark.parametrize(
    ("change", "rule_id"),
    [
        ({"hostNetwork": True}, "MR620"),
        ({"hostPID": True}, "MR620"),
        ({"hostIPC": True}, "MR620"),
        ({"volumes": [{"name": "node", "hostPath": {"path": "/var/run"}}]}, "MR620"),
    ],
)
def test_host_namespaces_and_host_paths_fail(change: dict[str, Any], rule_id: str) -> None:
    data = _base_deployment()
    pod = data["spec"]["template"]["spec"]
    for key, value in change.items():
        pod[key] = [*(pod.get(key) or []), *value] if isinstance(value, list) else value
    assert rule_id in _rules(data)


def test_added_capabilities_fail() -> None:
    data = _base_deployment()
    container = data["spec"]["template"]["spec"]["containers"][0]
    container.setdefault("securityContext", {})["capabilities"] = {"add": ["NET_ADMIN"]}
    obj = kustomize.RenderedObject(("apps", "Deployment", "", "x"), data, "")
    messages = [m for r, m in policy.object_problems(obj) if r == "MR621"]
    assert messages and "adds capabilities NET_ADMIN" in messages[0]
