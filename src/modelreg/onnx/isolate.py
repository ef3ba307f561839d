"""Run ONNX work in warm, isolated worker processes, each task under a timeout and a memory limit.

A crafted ONNX file can crash (protobuf or onnx C++ code), hang or allocate without bound.
Every library call on artifact bytes therefore happens in a worker, ``python -m
modelreg.onnx.worker serve``, started by a :class:`Pool`; the parent turns a signal, a timeout or
an exhausted memory limit into a finding, replaces the worker and goes on with the other
versions. Workers import numpy, onnx and onnxruntime once and then run task after task (one
version's deep checks is one task), ``--jobs`` of them at a time; a worker is replaced after
any task it did not survive cleanly, when its address space grew, and after
``MODELREG_WORKER_TASKS`` tasks (default 200; ``1`` gives every task a fresh process, the
strictest isolation, at about a second per task).

The memory limit (``RLIMIT_AS``: address space, not resident memory) scales with the model::

    limit_mb = BASE_MB + PER_MODEL_MB * (MiB of model.onnx + MiB of the files beside it)

capped by the memory the machine (or its cgroup) has available, never below ``BASE_MB``.
"The files beside it" bound the external data: onnx and onnxruntime may only open data files
under the model's directory (:mod:`modelreg.onnx.external`), so they are counted when the model
mentions a ``location`` at all. Measured (``MODELREG_CHILD_MEMORY_MB`` bisected to 16 MB
for ``validate --no-cache VERSION`` to pass; onnx 1.x, onnxruntime 1.2x, Python 3.11,
x86-64, 2 cores): this repository's bert-classifier 1.1.0 (0.6 MiB, 2,000 evaluation rows)
needs 318 MB, a synthetic model with no weights 222 MB, with 100 MiB of embedded weights
508 MB, with 300 MiB 953 MB, with 100 and 300 MiB of external data 381 and 778 MB: about
220-320 MB of interpreter, numpy, onnx and onnxruntime, plus 2-2.9 MB per MiB of model (the
file is parsed, checked and copied into the session). ``BASE_MB = 512`` and
``PER_MODEL_MB = 4`` keep a margin of at least 1.4x on every case (the rule gives 515, 912,
1712 MB for 0.6, 100, 300 MiB). The
child's BLAS and OpenMP pools are held to one thread, so the figure does not grow with the
machine's core count (each pool thread reserves address space).

Both settings come from the pool's :class:`modelreg.config.Settings` (read once by the command
line), checked when a task is submitted (not at import): ``MODELREG_CHILD_TIMEOUT`` (seconds,
default 300) and ``MODELREG_CHILD_MEMORY_MB`` (when set, the limit itself, for a model the rule
underestimates or a machine that must stay small).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg import config
from modelreg.config import Settings
from modelreg.errors import UsageError

#: The child's fixed need: interpreter, numpy, onnx, onnxruntime (see the module docstring).
BASE_MB = 512
#: Address space per MiB of model bytes (parsed, checked and loaded into a session).
PER_MODEL_MB = 4
#: Files counted beside a model that may reference external data (a bound on the walk).
MAX_COUNTED_FILES = 10_000
#: Thread pools of the libraries the child loads, held to one thread (see above).
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def timeout_s(settings: Settings | None = None) -> float:
    """The child timeout in force (``MODELREG_CHILD_TIMEOUT``, default 300 s)."""
    return config.or_env(settings).valid("child_timeout_s").child_timeout_s


def memory_limit_mb(model: Path, settings: Settings | None = None) -> int:
    """The child's address-space limit for ``model``, in MB (see the module docstring)."""
    chosen = config.or_env(settings).valid("child_memory_mb").child_memory_mb
    if chosen is not None:
        return chosen
    wanted = BASE_MB + PER_MODEL_MB * math.ceil(model_bytes(model) / 2**20)
    available = available_mb()
    return wanted if available is None else min(wanted, max(BASE_MB, available))


def model_bytes(model: Path) -> int:
    """Bytes of ``model`` plus, when it may reference external data, of every regular file
    under its directory (where its data files must be); symbolic links are not followed."""
    try:
        size = model.stat().st_size
    except OSError:
        return 0
    from modelreg.onnx.external import may_reference  # small module; no onnx import

    try:
        if not may_reference(model):
            return size
    except (OSError, ValueError):
        return size
    counted = 0
    for dirpath, _dirs, files in os.walk(model.parent, followlinks=False):
        for name in files:
            path = Path(dirpath, name)
            counted += 1
            if counted > MAX_COUNTED_FILES:
                return size
            if path == model:
                continue
            try:
                info = path.lstat()
            except OSError:
                continue
            if not path.is_symlink():
                size += info.st_size
    return size


def available_mb() -> int | None:
    """Memory available to new processes: ``MemAvailable``, lowered by a cgroup v2 limit."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if limit != "max":
            current = Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii")
            found.append(max(0, int(limit) - int(current)) // 2**20)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


@dataclass(frozen=True)
class ChildResult:
    """What came back: data, a known error, or how the worker died on this task."""

    data: dict[str, Any] | None = None  # with ``died``: what the task reported before dying
    error: str | None = None
    died: str | None = None


def default_jobs() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: Last bytes of a worker's stderr kept per task (its last line names why it died).
STDERR_TAIL = 64 * 1024
#: A worker whose address space grew this much past its size when it became ready is
#: replaced after the task: the next task's memory limit must not be spent on the last one's
#: leftovers (allocator arenas, cached kernels).
GROWTH_MB = 256
#: A worker is replaced after this many tasks, whatever its size (a bound on slow leaks);
#: ``MODELREG_WORKER_TASKS`` overrides it (checked at a pool's first task).
TASKS_PER_WORKER = Settings.worker_tasks
#: A worker ends itself (SIGALRM) this long after a task's timeout: the parent kills it at the
#: timeout, so this only fires when the parent died without stopping it (SIGTERM, SIGKILL).
ORPHAN_GRACE_S = 30


def tasks_per_worker(settings: Settings | None = None) -> int:
    """How many tasks a worker runs before it is replaced (``MODELREG_WORKER_TASKS``)."""
    return config.or_env(settings).valid("worker_tasks").worker_tasks


#: How long a queued job waits, once a worker is warm, before another worker is started.
SPAWN_AFTER_S = 0.5
#: The line a worker writes after each task's result (never a key a task writes).
END_KEY = "~end"


class Job:
    """One task handed to a :class:`Pool`; :meth:`result` waits for it."""

    def __init__(  # noqa: PLR0917 - built in one place (Pool.submit), each argument named
        self,
        task: str,
        path: Path,
        spec: dict[str, Any] | None,
        memory_mb: int,
        timeout: float,
        stream_stderr: bool,
        exclusive: bool = False,
    ) -> None:
        self.task = task
        self.path = path
        self.spec = spec
        self.memory_mb = memory_mb
        self.timeout = timeout
        self.stream_stderr = stream_stderr
        self.exclusive = exclusive
        self.cancelled = False
        self.queued_at = time.monotonic()
        self.pool: Pool | None = None  # set by Pool.submit
        self._done = threading.Event()
        self._result: ChildResult | None = None
        #: A bug of this module met while running the task (raised again by :meth:`result`).
        self._error: Exception | None = None
        self._worker: _Worker | None = None

    def result(self) -> ChildResult:
        """Wait for the task's result (Ctrl-C stays deliverable while waiting).

        A bug of the pool met while running the task is raised here, in the caller's thread
        (a check then reports MR901), never left in a slot thread while the caller waits."""
        while not self._done.wait(0.1):
            if self.pool is not None:
                self.pool.grow_if_backlogged()  # the queue may have backed up meanwhile
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Drop the task: not started yet, it never runs; running, its worker is killed.

        Only while the worker runs *this* task (:meth:`_Worker.stop`): a worker that finished
        it may already run another version's task, which must not be killed in its place."""
        self.cancelled = True
        worker = self._worker
        if worker is not None:
            worker.stop(self)

    def _finish(self, result: ChildResult) -> None:
        self._result = result
        self._done.set()


class _Worker:
    """One long-lived ``python -m modelreg.onnx.worker serve`` process."""

    def __init__(self, max_tasks: int = TASKS_PER_WORKER) -> None:
        self.max_tasks = max_tasks
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelreg.onnx.worker", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**SINGLE_THREADED, **os.environ},
        )
        _LIVE.add(self.proc)
        self.ready_mb: int | None = None  # address space after its first task
        self.tasks = 0
        #: The task running now: set by :meth:`Pool._claim` (under the pool's lock), cleared
        #: when :meth:`run` returns; guarded by ``_lock`` for :meth:`stop`.
        self.job: Job | None = None
        self._lock = threading.Lock()
        self._out = b""  # stdout bytes after the last complete line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def claim(self, job: Job) -> None:
        with self._lock:
            self.job = job

    def stop(self, job: Job) -> None:
        """Kill the worker if it is running ``job`` now (the check and the kill are one step
        under the lock, so a task that started meanwhile is never killed for ``job``)."""
        with self._lock:
            if self.job is job:
                self.kill()

    def close(self) -> None:
        """Let the worker exit (end of input), killing it if it does not; a worker that never
        ran a task holds nothing and may still be importing: it is killed at once."""
        if self.tasks == 0:
            self.kill()
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        _LIVE.discard(self.proc)

    def run(self, job: Job) -> tuple[ChildResult, bool]:
        """Run ``job``; the result and whether this worker may take another task."""
        message: dict[str, Any] = {"task": job.task, "path": str(job.path), "spec": job.spec}
        message["memory_mb"] = job.memory_mb
        # The worker's own deadline, for when this process is gone (see _child.serve).
        message["alarm_s"] = math.ceil(job.timeout) + ORPHAN_GRACE_S
        lines: list[bytes] = []
        err = bytearray()
        self._out = b""
        try:
            return self._run(job, message, lines, err)
        finally:
            with self._lock:
                self.job = None

    def _run(
        self, job: Job, message: dict[str, Any], lines: list[bytes], err: bytearray
    ) -> tuple[ChildResult, bool]:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # the worker is gone; its exit status below says how
        end, timed_out = self._read(job, lines, err)
        if end is None and self._out:
            lines.append(self._out)  # a line cut off by the worker's death
        stdout = b"\n".join(lines)
        if timed_out:
            self.kill()
            died = f"timed out after {job.timeout:g} s"
            return ChildResult(data=_parse(stdout), died=died), False
        if end is None:  # the worker died on this task: its exit status and last words say how
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait()
            assert self.proc.stderr is not None
            err.extend(self.proc.stderr.read())
            del err[:-STDERR_TAIL]
            return _judge(self.proc.returncode, stdout, bytes(err), job.memory_mb), False
        self.tasks += 1
        result = _judge(0, stdout, bytes(err), job.memory_mb)
        size = end.get("vm_mb") if isinstance(end, dict) else None
        if self.ready_mb is None and isinstance(size, int):
            self.ready_mb = size
        grown = isinstance(size, int) and self.ready_mb is not None
        reusable = (
            result.died is None
            and self.tasks < self.max_tasks
            and not (grown and size - self.ready_mb > GROWTH_MB)  # type: ignore[operator]  # both int when grown
        )
        return result, reusable

    def _read(
        self, job: Job, lines: list[bytes], err: bytearray
    ) -> tuple[dict[str, Any] | None, bool]:
        """Read the task's output lines until its end line (returned), EOF or the timeout."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out_fd, err_fd = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        deadline = time.monotonic() + job.timeout
        with selectors.DefaultSelector() as selector:
            selector.register(out_fd, selectors.EVENT_READ)
            selector.register(err_fd, selectors.EVENT_READ)
            open_fds = 2
            while open_fds:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, True
                # Waits are cut into an hour at most: select refuses a timeout past ~24 days.
                for key, _ in selector.select(min(left, 3600.0)):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                        open_fds -= 1
                        if key.fd == out_fd:
                            return None, False  # stdout closed: the worker is gone
                        continue
                    if key.fd == err_fd:
                        if job.stream_stderr:
                            sys.stderr.buffer.write(chunk)
                            sys.stderr.buffer.flush()
                        err.extend(chunk)
                        del err[:-STDERR_TAIL]
                        continue
                    self._out += chunk
                    *complete, self._out = self._out.split(b"\n")
                    for line in complete:
                        end = _end_of_task(line)
                        if end is not None:
                            if open_fds == 2:
                                self._drain(err_fd, job, err)
                            return end, False
                        lines.append(line)
        return None, False

    @staticmethod
    def _drain(err_fd: int, job: Job, err: bytearray) -> None:
        """Read what the task left on stderr: the worker wrote it before its end line, so it
        is all in the pipe now. Left there, it would be read as the *next* task's last words
        (another version's; "MemoryError" in it would misjudge that version's death)."""
        with selectors.DefaultSelector() as only_err:
            only_err.register(err_fd, selectors.EVENT_READ)
            for _ in range(1024):  # a bound: 64 MiB, far more than a pipe holds
                if not only_err.select(0):
                    return
                chunk = os.read(err_fd, 65536)
                if not chunk:
                    return
                if job.stream_stderr:
                    sys.stderr.buffer.write(chunk)
                    sys.stderr.buffer.flush()
                err.extend(chunk)
                del err[:-STDERR_TAIL]


def _admitted_mb(job: Job) -> int:
    """The memory a task is admitted with: its limit, never less than what a worker needs
    to exist (BASE_MB): a limit set far below that (``MODELREG_CHILD_MEMORY_MB=1``) must not
    let every queued task start a worker at once (each worker imports onnxruntime before its
    limit applies)."""
    return max(job.memory_mb, BASE_MB)


def _end_of_task(line: bytes) -> dict[str, Any] | None:
    if not line.startswith(b'{"' + END_KEY.encode()):
        return None
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    end = parsed.get(END_KEY) if isinstance(parsed, dict) else None
    return end if isinstance(end, dict) else None


class Pool:
    """Warm worker processes that run ONNX tasks in isolation, ``jobs`` at a time.

    Workers start when work arrives (one more per task queued while all are busy, up to
    ``jobs``), each imports numpy,
    onnx and onnxruntime once and then runs task after task. A worker that crashes, hangs
    past the timeout or runs out of its memory limit on a task is killed; the task gets the
    same :class:`ChildResult` a one-off child gave, and the next task gets a fresh worker.

    Memory: each task runs under its own address-space limit (:func:`memory_limit_mb` of its
    model), set by the worker before the task and lifted after. The pool admits a task only
    while the limits of the tasks running fit the memory available when it started, so large
    models run fewer at a time (one always runs).
    """

    def __init__(self, jobs: int | None = None, settings: Settings | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs {jobs}: give at least 1")
        self.jobs = jobs or default_jobs()
        #: Timeouts, memory limits and worker lifetimes of this pool's tasks.
        self.settings = config.or_env(settings)
        self._queue: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False
        self._budget_mb = available_mb()
        self._in_use_mb = 0
        self._warm_at: float | None = None  # when a worker first finished a task
        self.spawn_after = SPAWN_AFTER_S
        self._running = 0
        self._exclusive = False  # an exclusive job is running: nothing else may start
        self._workers: set[_Worker] = set()
        self._max_tasks: int | None = None  # read at the first task: a command that runs
        # none (``list``) must not fail on a bad MODELREG_WORKER_TASKS
        _POOLS.add(self)

    def submit(
        self,
        task: str,
        path: Path,
        spec: dict[str, Any] | None = None,
        *,
        memory_mb: int | None = None,
        timeout: float | None = None,
        stream_stderr: bool = False,
        exclusive: bool = False,
    ) -> Job:
        """Queue ``task`` on ``path``; settings are read now (a bad value raises here).

        An ``exclusive`` job runs with no other task in flight (latency measurements: a deep
        check on the other core would slow the timed calls); jobs queued after it wait.
        """
        job = Job(
            task,
            path,
            spec,
            memory_limit_mb(path, self.settings) if memory_mb is None else memory_mb,
            timeout_s(self.settings) if timeout is None else timeout,
            stream_stderr,
            exclusive,
        )
        job.pool = self
        if self._max_tasks is None:
            self._max_tasks = tasks_per_worker(self.settings)
        with self._cv:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            self._queue.append(job)
            if not self._threads or self._backlogged():
                self._start_slot()
            self._cv.notify()
        return job

    def close(self) -> None:
        """End the pool: queued jobs are dropped, a task still running is no longer wanted
        (its worker is killed), idle workers are told to exit; returns when all are gone."""
        with self._cv:
            self._closed = True
            for job in self._queue:
                job.cancelled = True
                job._finish(ChildResult(died="cancelled"))
            self._queue.clear()
            for worker in self._workers:
                if worker.job is not None:  # claimed under this lock (_claim): no race
                    worker.kill()
            self._cv.notify_all()
        for thread in self._threads:
            thread.join()
        _POOLS.discard(self)

    def kill(self) -> None:
        """Kill every worker now (Ctrl-C)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.kill()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and not isinstance(exc[1], Exception):
            self.kill()  # KeyboardInterrupt, SystemExit: no worker outlives the run
        self.close()

    def warm(self) -> None:
        """Start a worker now, when the caller knows a task is coming: its imports (about a
        third of a second) then run on another core while the parent prepares the task. A
        warm worker that gets no task is killed at close. No-op on one core or once started.
        """
        if (os.cpu_count() or 1) < 2:
            return  # the imports would only take the parent's core
        # A bad setting is an error before any worker starts, as it is at submit.
        self.settings.valid("child_timeout_s", "child_memory_mb")
        if self._max_tasks is None:
            self._max_tasks = tasks_per_worker(self.settings)
        with self._cv:
            if self._closed or self._threads:
                return
            self._start_slot(warm=True)

    def _start_slot(self, *, warm: bool = False) -> None:
        thread = threading.Thread(target=self._slot, args=(warm,), daemon=True)
        # Listed once started: close() joins every listed thread, and joining one that never
        # started (Ctrl-C inside start()) raises RuntimeError in place of the interrupt.
        thread.start()
        self._threads.append(thread)

    def _slot(self, warm: bool = False) -> None:
        worker: _Worker | None = None
        try:
            if warm:
                worker = self._spawn()
            while True:
                job = self._take()
                if job is None:
                    return
                result, reusable = ChildResult(died="cancelled"), True
                try:
                    if not job.cancelled and worker is None:
                        worker = self._spawn()
                    if worker is not None and self._claim(job, worker):
                        result, reusable = worker.run(job)
                except OSError as exc:  # the worker could not even start
                    result, reusable = ChildResult(died=f"could not start: {exc}"), False
                except Exception as exc:  # noqa: BLE001 - handed to the caller, see below
                    # A bug here must not end this thread with the job unfinished: its caller
                    # would wait forever (and, with one slot, every job after it). The caller
                    # gets the exception (Job.result raises it); the worker's state is unknown.
                    job._error = exc
                    reusable = False
                    if worker is not None:
                        worker.kill()
                finally:
                    with self._cv:
                        self._in_use_mb -= _admitted_mb(job)
                        self._running -= 1
                        self._exclusive = False if job.exclusive else self._exclusive
                        if self._warm_at is None and worker is not None and worker.tasks:
                            self._warm_at = time.monotonic()
                        if self._backlogged():
                            self._start_slot()
                        self._cv.notify_all()
                job._finish(result)
                if not reusable and worker is not None:
                    self._retire(worker)
                    worker = None
        finally:
            if worker is not None:
                self._retire(worker)

    def grow_if_backlogged(self) -> None:
        """Start another worker if the queue has backed up (see :meth:`_backlogged`)."""
        with self._cv:
            if self._backlogged():
                self._start_slot()

    def _backlogged(self) -> bool:
        """Whether another worker would pay for itself (called under the lock): a job has
        waited :data:`SPAWN_AFTER_S` since a worker was warm, and every slot is busy. A worker
        costs about a second of imports; small models are checked faster than the parent
        prepares them, so one worker keeps up and a second would only take the parent's core.
        Large models back the queue up, and then more workers start, up to ``jobs``."""
        if self._closed or not self._queue or self._idle or len(self._threads) >= self.jobs:
            return False
        if self._warm_at is None:
            return False
        waited = time.monotonic() - max(self._queue[0].queued_at, self._warm_at)
        return waited > self.spawn_after

    def _take(self) -> Job | None:
        """The next job this slot may run (memory admitted), None when the pool closes."""
        with self._cv:
            self._idle += 1
            try:
                while True:
                    if self._closed:
                        return None
                    if self._queue and not self._exclusive:
                        head = self._queue[0]
                        need = _admitted_mb(head)
                        fits = self._budget_mb is None or self._in_use_mb + need <= self._budget_mb
                        alone = self._running == 0
                        if (fits or alone) and (alone or not head.exclusive):
                            self._in_use_mb += need
                            self._running += 1
                            self._exclusive = head.exclusive
                            return self._queue.popleft()
                    self._cv.wait()
            finally:
                self._idle -= 1

    def _claim(self, job: Job, worker: _Worker) -> bool:
        """Mark ``job`` as running on ``worker``, unless it was cancelled or the pool closed
        since :meth:`_take` (close, kill and Job.cancel kill the worker of a claimed job; a
        job they could not see yet must not start, or Ctrl-C would wait for it to finish)."""
        with self._cv:
            if job.cancelled or self._closed:
                return False
            job._worker = worker
            worker.claim(job)
            return True

    def _spawn(self) -> _Worker:
        worker = _Worker(self._max_tasks or TASKS_PER_WORKER)
        with self._cv:
            self._workers.add(worker)
            if self._closed:
                worker.kill()  # kill() ran while this one was starting (Ctrl-C)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.close()
        with self._cv:
            self._workers.discard(worker)


#: Processes started and not yet reaped, and pools not yet closed (:func:`stop_all`).
_LIVE: set[subprocess.Popen[bytes]] = set()
_POOLS: weakref.WeakSet[Pool] = weakref.WeakSet()
#: The pool :func:`run_child` and the deep checks use (:func:`workers`).
_CURRENT: list[Pool] = []


@contextlib.contextmanager
def workers(jobs: int | None = None, settings: Settings | None = None) -> Iterator[Pool]:
    """A pool for the work inside the ``with`` block: every :func:`run_child` and
    :func:`submit` in it shares warm workers; they all exit when the block ends."""
    with Pool(jobs, settings) as pool:
        _CURRENT.append(pool)
        try:
            yield pool
        finally:
            _CURRENT.remove(pool)


def current() -> Pool | None:
    """The innermost pool opened by :func:`workers`, if any."""
    return _CURRENT[-1] if _CURRENT else None


def submit(
    task: str, path: Path, spec: dict[str, Any] | None = None, *, memory_mb: int | None = None
) -> Job:
    """Queue ``task`` on the current pool (see :func:`workers`); call inside one."""
    pool = current()
    if pool is None:
        raise RuntimeError("modelreg.onnx.isolate.submit needs a pool: use `with workers():`")
    return pool.submit(task, path, spec, memory_mb=memory_mb)


def run_child(
    task: str,
    path: Path,
    timeout: float | None = None,
    memory_mb: int | None = None,
    spec: dict[str, Any] | None = None,
    *,
    stream_stderr: bool = False,
    exclusive: bool = False,
) -> ChildResult:
    """Run ``task`` on ``path`` in a worker; never raises for what the worker does.

    Uses the current pool (:func:`workers`) or, outside one, a worker of its own.
    ``exclusive``: no other task of the pool runs meanwhile (see :meth:`Pool.submit`).
    ``stream_stderr`` passes the worker's stderr through to the user's terminal as it comes
    (a progress bar); the parent still keeps its tail for the error message.
    """
    with contextlib.ExitStack() as stack:
        pool = current() or stack.enter_context(Pool(1))
        job = pool.submit(
            task,
            path,
            spec,
            memory_mb=memory_mb,
            timeout=timeout,
            stream_stderr=stream_stderr,
            exclusive=exclusive,
        )
        return job.result()


def stop_all() -> None:
    """Kill and reap every worker still running (on Ctrl-C, before modelreg exits)."""
    for pool in list(_POOLS):
        pool.kill()
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        _LIVE.discard(proc)


def _judge(returncode: int, stdout: bytes, stderr: bytes, memory_mb: int) -> ChildResult:
    """What a finished child's exit status and output mean."""
    payload = _parse(stdout)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return ChildResult(data=payload, died=f"signal {-returncode} ({name})")
    if payload is None or returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if b"MemoryError" in stderr:
            return ChildResult(data=payload, died=f"ran out of its {memory_mb} MB memory limit")
        return ChildResult(data=payload, died=f"exit status {returncode}: {tail[0][:200]}")
    if "died" in payload:
        reason = str(payload.pop("died"))
        return ChildResult(data=payload or None, died=reason)
    if "error" in payload:
        return ChildResult(error=str(payload["error"]))
    return ChildResult(data=payload)


def _parse(stdout: bytes) -> dict[str, Any] | None:
    """The child's JSON lines merged into one mapping (a child may report in parts, so that
    what it finished before dying still counts); None when no complete part arrived."""
    merged: dict[str, Any] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            part = json.loads(line)
        except ValueError:
            break  # a line cut off by the child's death: keep what came before
        if not isinstance(part, dict):
            return None
        merged.update(part)
    return merged or None
