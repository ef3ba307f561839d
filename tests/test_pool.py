"""The warm worker pool: one deep task per version, queued ahead, each version isolated.

Crash, hang and memory exhaustion are injected into the real workers through a
``sitecustomize`` module on their PYTHONPATH that breaks onnxruntime's session for one version
only (its directory name), so a broken version runs next to a good one in the same pool.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Registry
from modelreg.checks import _deep
from modelreg.cli import main
from modelreg.errors import UsageError
from modelreg.onnx import isolate

META = "models/demo/1.1.0/metadata.yaml"
OLD = "models/demo/1.0.0/model.onnx"


class Spy:
    """Counts deep tasks queued, waited for and cancelled (calling the real pool)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.jobs: list[isolate.Job] = []
        self.waited = 0
        self.cancelled = 0
        real_submit, real_result, real_cancel = (
            isolate.Pool.submit,
            isolate.Job.result,
            isolate.Job.cancel,
        )

        def submit(pool: isolate.Pool, *args: Any, **kwargs: Any) -> isolate.Job:
            job = real_submit(pool, *args, **kwargs)
            self.jobs.append(job)
            return job

        def result(job: isolate.Job) -> isolate.ChildResult:
            self.waited += 1
            return real_result(job)

        def cancel(job: isolate.Job) -> None:
            self.cancelled += 1
            real_cancel(job)

        monkeypatch.setattr(isolate.Pool, "submit", submit)
        monkeypatch.setattr(isolate.Job, "result", result)
        monkeypatch.setattr(isolate.Job, "cancel", cancel)


def break_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, action: str
) -> Path:
    """Every worker started from now on runs ``action`` instead of opening an onnxruntime
    session on ``version``'s model, and appends its pid to the returned file when it starts."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    starts = tmp_path / "starts"
    (hook / "sitecustomize.py").write_text(
        "import os, signal, sys, time\n"
        "if sys.argv[1:2] == ['serve']:\n"
        f"    with open({str(starts)!r}, 'a') as fh:\n"
        "        fh.write(f'{os.getpid()}\\n')\n"
        "    import onnxruntime\n"
        "    real = onnxruntime.InferenceSession\n"
        "    def session(path, *args, **kwargs):\n"
        f"        if os.path.basename(os.path.dirname(str(path))) == {version!r}:\n"
        f"            {action}\n"
        "        return real(path, *args, **kwargs)\n"
        "    onnxruntime.InferenceSession = session\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return starts


def test_one_queued_task_serves_every_deep_check(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spy = Spy(monkeypatch)
    assert main(["validate", "--no-cache", META]) == 0, capsys.readouterr()
    assert (len(spy.jobs), spy.waited, spy.cancelled) == (1, 1, 0)
    assert spy.jobs[0].task == "deep"


def test_queued_task_still_finds_a_perturbed_output(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spy = Spy(monkeypatch)
    out = registry.path("models/demo/1.1.0/test_data_set_0/output_0.pb")
    data = bytearray(out.read_bytes())
    data[-1] ^= 0x40
    out.write_bytes(bytes(data))
    assert main(["validate", "--no-cache", META]) == 1
    assert "MR404" in capsys.readouterr().out
    assert (len(spy.jobs), spy.waited) == (1, 1)


def test_unused_queued_task_is_cancelled(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the metrics rule is selected and the evaluation file is gone: the metrics check
    # never asks for the task it prepared, so the runner must cancel it.
    spy = Spy(monkeypatch)
    registry.path("models/demo/data/eval.npz").unlink()
    assert main(["validate", "--no-cache", "--select", "MR406", META]) == 1
    assert "MR406" in capsys.readouterr().out
    assert (len(spy.jobs), spy.waited, spy.cancelled) == (1, 0, 1)
    assert not isolate._LIVE  # every worker reaped when the command ended


def test_a_crash_while_preparing_is_a_finding_and_the_checks_still_run(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> list[str]:
        raise RuntimeError("no process for you")

    monkeypatch.setattr(_deep, "missing_modules", broken)  # only prestart calls it
    assert main(["validate", "--no-cache", META]) == 1
    out = capsys.readouterr().out
    assert "MR901 preparing `prestart` crashed (RuntimeError: no process for you)" in out
    assert out.count("MR901") == 1  # the deep checks then ran on a worker of their own


@pytest.mark.parametrize(
    ("action", "died"),
    [
        ("os.kill(os.getpid(), signal.SIGSEGV)", "signal 11 (SIGSEGV)"),
        pytest.param("time.sleep(60)", "timed out after 3 s", marks=pytest.mark.slow),
        ("bytearray(64 << 30)", "ran out of its memory limit"),
    ],
    ids=["crash", "hang", "memory"],
)
def test_a_broken_version_next_to_a_good_one(  # noqa: PLR0917 - fixtures and parameters
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    action: str,
    died: str,
) -> None:
    # One worker, two versions: 1.0.0 breaks its worker, 1.1.0 (checked after it) passes on
    # the worker that replaced it, and the run reports exactly one finding.
    starts = break_workers(tmp_path, monkeypatch, "1.0.0", action)
    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "3")
    code = main(["validate", "--no-cache", "--jobs", "1", "models/demo"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines() == [
        f"{OLD}: MR902 deep checks died: {died}; finished before that: inspect; the rest is "
        "unproven"
    ]
    assert len(starts.read_text().split()) == 2  # the broken worker was replaced once
    assert not isolate._LIVE


@pytest.mark.slow
def test_the_report_is_the_same_for_any_number_of_workers(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    break_workers(tmp_path, monkeypatch, "1.0.0", "os.kill(os.getpid(), signal.SIGSEGV)")
    registry.replace(META, 'version: "2.1"', 'version: "2.2"')
    reports = []
    for jobs in ("1", "2", "4"):
        for output in ("text", "json"):
            main(["validate", "--no-cache", "--jobs", jobs, "--output", output])
            reports.append((output, capsys.readouterr().out))
    assert " MR902 " in reports[0][1] and " MR306 " in reports[0][1]
    assert reports[0::2] == [reports[0]] * 3
    assert reports[1::2] == [reports[1]] * 3


@pytest.mark.slow
def test_large_models_run_fewer_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool admits a task only while the memory limits of the running ones fit what the
    # machine had available: two tasks of 800 MB on 1,000 MB run one after the other.
    running = 0
    most = 0
    lock = threading.Lock()

    def run(worker: Any, job: isolate.Job) -> tuple[isolate.ChildResult, bool]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return isolate.ChildResult(data={"ok": job.memory_mb}), True

    monkeypatch.setattr(isolate._Worker, "run", run)

    def init(self: Any, _max_tasks: int = 0) -> None:
        self.job = None
        self.tasks = 1  # warm: the pool may start more workers once one has run a task
        self._lock = threading.Lock()

    monkeypatch.setattr(isolate._Worker, "__init__", init)
    monkeypatch.setattr(isolate._Worker, "close", lambda self: None)
    monkeypatch.setattr(isolate._Worker, "kill", lambda self: None)
    monkeypatch.setattr(isolate, "available_mb", lambda: 2000)
    # Each task counts at least BASE_MB (512, what a worker needs to exist): a limit set far
    # below that must not start every queued task's worker at once.
    for slots, size, expected in ((2, 1600, 1), (2, 800, 2), (4, 1, 3)):
        most = 0
        with isolate.Pool(slots) as pool:
            pool.spawn_after = 0  # every slot as soon as there is a backlog
            jobs = [pool.submit("inspect", tmp_path, memory_mb=size) for _ in range(6)]
            assert [j.result().data for j in jobs] == [{"ok": size}] * 6
        assert most == expected, size
    # A latency measurement (exclusive) runs alone; the jobs around it still run two at a time.
    alone: list[int] = []
    real_run = run

    def watch(worker: Any, job: isolate.Job) -> tuple[isolate.ChildResult, bool]:
        if job.exclusive:
            with lock:
                alone.append(running)
        return real_run(worker, job)

    monkeypatch.setattr(isolate._Worker, "run", watch)
    most = 0
    with isolate.Pool(2) as pool:
        pool.spawn_after = 0
        jobs = [pool.submit("inspect", tmp_path, memory_mb=100, exclusive=i == 2) for i in range(5)]
        assert all(j.result().data == {"ok": 100} for j in jobs)
    assert (alone, most) == ([0], 2)


def test_ctrl_c_while_a_slot_thread_starts(
    tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C inside Thread.start() (it waits for the thread): the pool listed the thread
    # before starting it, and close() then raised RuntimeError ("cannot join thread before it
    # is started") in place of the KeyboardInterrupt: exit 3 "a bug" instead of 130.
    real_start = threading.Thread.start

    def interrupted(thread: threading.Thread) -> None:
        monkeypatch.setattr(threading.Thread, "start", real_start)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), isolate.Pool(1) as pool:
        monkeypatch.setattr(threading.Thread, "start", interrupted)
        pool.submit("inspect", tmp_path / "m", {}, memory_mb=1)
    assert not isolate._LIVE


def test_bad_jobs_is_a_usage_error(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--jobs", "0"]) == 2
    assert "'0' is not a whole number of workers >= 1" in capsys.readouterr().err


def test_output_of_libraries_cannot_corrupt_a_reply(registry: Registry) -> None:
    # A worker's stdout is the protocol; what a library prints (to fd 1) goes to stderr.
    model = registry.path("models/demo/1.1.0/model.onnx")
    script = (
        "import os, sys\n"
        "from modelreg.onnx import worker\n"
        "def noisy(path, spec):\n"
        "    print('hello from a library'); os.write(1, b'{\"facts\": 1}\\n')\n"
        "    return {'quiet': True}\n"
        "worker.TASKS['inspect'] = noisy\n"
        "sys.argv = ['x', 'serve']\n"
        "raise SystemExit(worker.main())\n"
    )
    request = {"task": "inspect", "path": str(model), "spec": None, "memory_mb": 4096}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=(json.dumps(request) + "\n").encode(),
        capture_output=True,
        check=True,
    )
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert lines[0] == {"quiet": True}
    assert list(lines[1]) == ["~end"] and len(lines) == 2
    assert b"hello from a library" in proc.stderr


def test_a_worker_serves_tasks_in_order(registry: Registry) -> None:
    model = registry.path("models/demo/1.1.0/model.onnx")
    spec: dict[str, Any] = {"version_dir": str(model.parent), "sets": [], "evaluate": None}
    with isolate.Pool(1) as pool:
        jobs = [pool.submit("deep", model, spec) for _ in range(3)]
        results = [j.result() for j in jobs]
    assert all(r.died is None and r.error is None for r in results), results
    assert all(r.data is not None and "inspect" in r.data for r in results)
    assert not isolate._LIVE


def test_timeout_counts_from_the_hand_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker that never answers is killed at the timeout and replaced for the next task.
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr("modelreg.onnx.isolate.sys.executable", str(fake))
    started = time.monotonic()
    result = isolate.run_child("inspect", tmp_path / "x.onnx", timeout=0.5)
    assert result.died == "timed out after 0.5 s"
    assert time.monotonic() - started < 30
    assert not isolate._LIVE


def test_strict_isolation_gives_every_task_a_fresh_worker(
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    starts = break_workers(tmp_path, monkeypatch, "none", "pass")
    monkeypatch.setenv("MODELREG_WORKER_TASKS", "1")
    assert main(["validate", "--no-cache", "--jobs", "1", "models/demo"]) == 0, capsys.readouterr()
    assert len(starts.read_text().split()) == 2  # two versions, two workers
    monkeypatch.setenv("MODELREG_WORKER_TASKS", "0")
    assert main(["validate", "--no-cache", "models/demo"]) == 2
    assert "MODELREG_WORKER_TASKS='0'" in capsys.readouterr().err


# -- the pool under stress: a fake worker that speaks the protocol, driven by each job's spec --

FAKE_WORKER = """\
import json, os, sys, time
replies = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    request = json.loads(line)
    spec = request["spec"] or {}
    sys.stderr.write(spec.get("stderr", ""))
    sys.stderr.flush()
    time.sleep(spec.get("sleep", 0))
    if "exit" in spec:
        sys.exit(spec["exit"])
    replies.write(json.dumps({"done": request["path"]}) + "\\n")
    replies.write(json.dumps({"~end": {"vm_mb": 1}}) + "\\n")
    replies.flush()
"""


@pytest.fixture
def fake_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workers started from now on run FAKE_WORKER (no onnx import: fast, deterministic);
    returns the file each start appends a line to."""
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    starts = tmp_path / "fake-starts"
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/sh\necho $$ >> "{starts}"\nexec "{sys.executable}" "{script}"\n')
    fake.chmod(0o755)
    monkeypatch.setattr("modelreg.onnx.isolate.sys.executable", str(fake))
    return starts


def test_a_bug_in_a_slot_is_raised_to_the_caller_and_the_pool_goes_on(
    tmp_path: Path, fake_worker: Path
) -> None:
    # Anything _Worker.run raises besides OSError (here: a spec JSON cannot encode) used to
    # end the slot thread with the job unfinished: the caller waited forever, and with one
    # slot so did every later job.
    with isolate.Pool(1) as pool:
        bad = pool.submit("inspect", tmp_path / "bad", {"x": {1}}, memory_mb=1, timeout=30)
        good = pool.submit("inspect", tmp_path / "good", {}, memory_mb=1, timeout=30)
        assert bad._done.wait(60) and good._done.wait(60), "the pool hung"
        with pytest.raises(TypeError, match="not JSON serializable"):
            bad.result()
        assert good.result() == isolate.ChildResult(data={"done": str(tmp_path / "good")})
    assert not isolate._LIVE


def test_a_bug_in_the_pool_is_mr901_not_a_hang(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = 0

    def broken(self: Any, job: isolate.Job) -> Any:
        nonlocal calls
        calls += 1
        raise ValueError("a bug in the pool")

    monkeypatch.setattr(isolate._Worker, "run", broken)
    done: list[int] = []
    thread = threading.Thread(
        target=lambda: done.append(main(["validate", "--no-cache", "--jobs", "1", "models/demo"])),
        daemon=True,
    )
    thread.start()
    thread.join(120)
    assert done == [1], "validate hung"
    lines = capsys.readouterr().out.splitlines()
    # Every deep check of both versions says it proved nothing; the task ran once per version.
    assert len(lines) == 6, lines
    assert all(" MR901 " in line and "(ValueError: a bug in the pool)" in line for line in lines)
    assert calls == 2
    assert not isolate._LIVE


def test_a_timeout_beyond_what_select_takes(
    tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # select() raises OverflowError past ~24 days: the wait is cut into hours, and the
    # setting refuses more than a week.
    with isolate.Pool(1) as pool:
        job = pool.submit("inspect", tmp_path / "m", {}, memory_mb=1, timeout=1e300)
        assert job._done.wait(60), "the pool hung"
        assert job.result().data == {"done": str(tmp_path / "m")}
    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "1e300")
    with pytest.raises(UsageError, match="up to 604800"):
        isolate.timeout_s()


def test_cancelling_a_finished_job_never_kills_the_next_task(
    tmp_path: Path, fake_worker: Path
) -> None:
    # Job.cancel read "not done" and then killed the job's worker: if the job finished in
    # between and the worker took another version's task, that version died (signal 9) in
    # place of the cancelled one. Simulated: the cancel sees the first job as not done while
    # the worker runs the second.
    with isolate.Pool(1) as pool:
        first = pool.submit("inspect", tmp_path / "first", {}, memory_mb=1, timeout=30)
        assert first.result().died is None
        second = pool.submit("inspect", tmp_path / "second", {"sleep": 1}, memory_mb=1, timeout=30)
        while second._worker is None:
            time.sleep(0.01)
        first._done = threading.Event()  # the cancelling thread's stale view
        first.cancel()
        assert second.result() == isolate.ChildResult(data={"done": str(tmp_path / "second")})
    assert not isolate._LIVE


def test_close_while_a_slot_starts_its_worker(
    tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # close() (or Ctrl-C's kill()) between a slot taking a job and the job's worker being
    # marked busy saw no busy worker to kill: the job then ran to its end (up to the timeout)
    # while close() waited for it.
    real_spawn = isolate.Pool._spawn
    spawning = threading.Event()

    def slow_spawn(pool: isolate.Pool) -> Any:
        spawning.set()
        while not pool._closed:
            time.sleep(0.01)
        return real_spawn(pool)

    monkeypatch.setattr(isolate.Pool, "_spawn", slow_spawn)
    pool = isolate.Pool(1)
    job = pool.submit("inspect", tmp_path / "m", {"sleep": 30}, memory_mb=1, timeout=60)
    assert spawning.wait(30)
    pool.close()
    assert job.result().died == "cancelled"
    assert not isolate._LIVE


class _PollFirstStdout(selectors.PollSelector):
    """poll() reports ready descriptors in registration order (stdout first); waiting a
    moment first lets a task's stderr and end line both be ready at one select."""

    def select(self, timeout: float | None = None) -> Any:
        if timeout:
            time.sleep(0.3)
        return super().select(timeout)


def test_a_tasks_stderr_is_never_read_as_the_next_tasks(
    tmp_path: Path, fake_worker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a task wrote on stderr and the parent had not read by its end line stayed in the
    # pipe and became the next task's last words: another version's "MemoryError" turned
    # this version's crash into "ran out of its memory limit".
    monkeypatch.setattr(selectors, "DefaultSelector", _PollFirstStdout)
    with isolate.Pool(1) as pool:
        noisy = pool.submit(
            "inspect", tmp_path / "a", {"stderr": "warning: MemoryError in a name\n"}, memory_mb=1
        )
        assert noisy.result().died is None
        dying = pool.submit("inspect", tmp_path / "b", {"stderr": "boom\n", "exit": 1}, memory_mb=1)
        assert dying.result().died == "exit status 1: boom"
    assert not isolate._LIVE


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MODELREG_WORKER_TASKS", "²", "MODELREG_WORKER_TASKS='²': give a whole number"),
        ("MODELREG_CHILD_MEMORY_MB", "²", "MODELREG_CHILD_MEMORY_MB='²': give a whole number"),
        ("MODELREG_CHILD_MEMORY_MB", "9" * 20, "megabytes from 1 to 1073741824"),
        ("MODELREG_CHILD_TIMEOUT", "1e300", "seconds up to 604800"),
    ],
)
def test_bad_settings_are_usage_errors(  # noqa: PLR0917 - fixtures and parameters
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["validate", "--no-cache", "models/demo"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not isolate._LIVE


@pytest.mark.slow
def test_an_orphaned_worker_ends_its_hung_task_itself(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The parent kills a hung task at its timeout; when the parent is gone (SIGTERM or
    # SIGKILL skip the Ctrl-C cleanup) nobody would, and the worker spun forever. Each request
    # carries the worker's own deadline (the timeout plus a grace): SIGALRM ends it there.
    break_workers(tmp_path, monkeypatch, "1.1.0", "time.sleep(60)")
    model = registry.path("models/demo/1.1.0/model.onnx")
    spec: dict[str, Any] = {"version_dir": str(model.parent), "sets": [], "evaluate": None}
    request = {"task": "deep", "path": str(model), "spec": spec, "memory_mb": 4096, "alarm_s": 1}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg.onnx.worker", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        out, _ = proc.communicate((json.dumps(request) + "\n").encode(), timeout=50)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGALRM
    assert list(json.loads(out.splitlines()[0])) == ["inspect"]  # it got as far as the session
    # What the pool asks for: the timeout plus the grace.
    sent: list[dict[str, Any]] = []
    real_dumps = json.dumps

    def dumps(obj: Any, **kwargs: Any) -> str:
        if isinstance(obj, dict) and "task" in obj:
            sent.append(obj)
        return real_dumps(obj, **kwargs)

    monkeypatch.setattr(json, "dumps", dumps)
    with isolate.Pool(1) as pool:
        job = pool.submit("deep", model, spec, timeout=2.5)
        assert job.result().died == "timed out after 2.5 s"
    assert [m["alarm_s"] for m in sent] == [3 + isolate.ORPHAN_GRACE_S]


def test_a_worker_leaves_ctrl_c_to_its_parent(registry: Registry) -> None:
    # A terminal's Ctrl-C reaches the workers too (one process group); only the parent acts.
    model = registry.path("models/demo/1.1.0/model.onnx")
    spec: dict[str, Any] = {"version_dir": str(model.parent), "sets": [], "evaluate": None}
    request = {"task": "inspect", "path": str(model), "spec": spec, "memory_mb": 4096}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg.onnx.worker", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(request) + "\n").encode())
        proc.stdin.flush()
        assert "facts" in json.loads(proc.stdout.readline())  # serving: handlers are set
        proc.stdout.readline()  # the end line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate((json.dumps(request) + "\n").encode(), timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"KeyboardInterrupt" not in err
    assert "facts" in json.loads(out.splitlines()[0])


@pytest.mark.parametrize(("seconds", "workers"), [(0.01, 1), (0.4, 2)])
def test_a_second_worker_starts_only_when_the_queue_backs_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float, workers: int
) -> None:
    # A worker costs about a second of imports: small models are checked faster than that
    # (one worker keeps up, a second would take the parent's core); slow tasks back the
    # queue up past SPAWN_AFTER_S and the pool grows to --jobs.
    def run(worker: Any, job: isolate.Job) -> tuple[isolate.ChildResult, bool]:
        time.sleep(seconds)
        worker.tasks += 1
        return isolate.ChildResult(data={}), True

    def init(self: Any, _max_tasks: int = 0) -> None:
        self.job = None
        self.tasks = 0
        self._lock = threading.Lock()

    monkeypatch.setattr(isolate._Worker, "run", run)
    monkeypatch.setattr(isolate._Worker, "__init__", init)
    monkeypatch.setattr(isolate._Worker, "close", lambda self: None)
    monkeypatch.setattr(isolate._Worker, "kill", lambda self: None)
    with isolate.Pool(2) as pool:
        jobs = [pool.submit("inspect", tmp_path, memory_mb=1) for _ in range(6)]
        assert all(j.result().data == {} for j in jobs)
        started = len(pool._threads)
    assert started == workers
