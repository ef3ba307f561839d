"""modelreg.storage: the OS lock in the git directory, the journal, and what recovery refuses.

Locks are held by real child processes (flock is per open file, so a lock held by this test
process would be re-entered, not waited for); a killed holder is a real SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import Registry
from modelreg import storage

#: A child that takes a lock of ``storage`` and holds it until killed (or for N seconds).
HOLDER = """
import sys, time
from pathlib import Path
from modelreg import storage
kind, root, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
held = (storage.registry_lock(root, "holder") if kind == "registry"
        else storage.model_lock(root, "demo", "modelreg add demo"))
with held:
    print("locked", flush=True)
    time.sleep(seconds)
print("released", flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "MODELREG_NO_CACHE": "1", **extra}


@contextmanager
def holding(root: Path, kind: str = "registry", seconds: float = 120) -> Iterator[Popen]:
    """A child process holding the lock, for as long as the block runs (then killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, str(root), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.communicate()


Popen = subprocess.Popen[str]


def modelreg(root: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelreg", *argv],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=300,
        check=False,
    )


@pytest.fixture
def reg(make_registry: Callable[[], Registry]) -> Path:
    return make_registry().root


def take_lock(root: Path) -> None:
    """Take and release the registry lock (which finishes or refuses a pending journal)."""
    with storage.registry_lock(root, "test"):
        pass


def lock_path(root: Path) -> Path:
    return root / ".git" / "modelreg" / "lock"


def test_state_lives_in_the_git_directory(reg: Path) -> None:
    assert storage.state_dir(reg) == (reg / ".git" / "modelreg").resolve()
    with storage.registry_lock(reg, "test"):
        storage.write_all(reg, {reg / "models/demo/notes.txt": "hi\n"})
    assert (reg / "models/demo/notes.txt").read_text() == "hi\n"
    assert sorted(p.name for p in (reg / ".git" / "modelreg").iterdir()) == ["lock"]
    assert not any(p.name.startswith(".modelreg") for p in reg.iterdir())


def test_a_busy_lock_makes_a_writer_wait_then_fail_naming_the_holder(reg: Path) -> None:
    with holding(reg) as holder:
        start = time.monotonic()
        done = modelreg(reg, "render", MODELREG_LOCK_WAIT="0.6")
        waited = time.monotonic() - start
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"modelreg: error: another modelreg command (pid {holder.pid}: holder) is writing this "
        "registry; try again when it ends (waited MODELREG_LOCK_WAIT seconds)\n"
    )
    assert waited >= 0.6
    assert not (reg / "MODEL_REGISTRY.md").exists()  # render wrote nothing


def test_a_waiting_writer_goes_on_when_the_holder_ends(reg: Path) -> None:
    with holding(reg, seconds=1.0):
        done = modelreg(reg, "render", MODELREG_LOCK_WAIT="60")
    assert done.returncode == 0, done.stderr
    assert (reg / "MODEL_REGISTRY.md").is_file()


def test_a_killed_holders_lock_is_free_at_once(reg: Path) -> None:
    with holding(reg) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert lock_path(reg).read_text().startswith(f"{holder.pid} ")  # the file stays...
        start = time.monotonic()
        with storage.lock(lock_path(reg), "test", busy="busy {holder}", wait=0):
            pass  # ...but the kernel released the lock with the process
        assert time.monotonic() - start < 0.5
    done = modelreg(reg, "render", MODELREG_LOCK_WAIT="0")
    assert done.returncode == 0, done.stderr


def test_a_finishing_writer_leaves_the_next_holders_lock_alone(reg: Path) -> None:
    with holding(reg, seconds=0.5) as first:
        inode = lock_path(reg).stat().st_ino
        second = subprocess.Popen(
            [sys.executable, "-c", HOLDER, "registry", str(reg), "120"],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(MODELREG_LOCK_WAIT="60"),
        )
        try:
            assert second.stdout is not None
            assert second.stdout.readline() == "locked\n"  # after the first one released
            assert first.wait(timeout=30) == 0
            # The first writer finished without deleting or emptying the second's lock.
            assert lock_path(reg).stat().st_ino == inode
            assert lock_path(reg).read_text() == f"{second.pid} holder\n"
            busy = "busy {holder}"
            with (
                pytest.raises(storage.StorageError, match=f"busy pid {second.pid}: holder"),
                storage.lock(lock_path(reg), "test", busy=busy, wait=0.2),
            ):
                pass
        finally:
            second.kill()
            second.communicate()


def test_the_lock_is_reentrant_in_one_process(reg: Path) -> None:
    with storage.registry_lock(reg, "outer"):
        with storage.registry_lock(reg, "inner"):
            assert storage.held(reg)
        assert storage.held(reg)
    assert not storage.held(reg)
    assert lock_path(reg).read_text() == ""  # emptied while still held, never deleted


def test_a_write_without_the_lock_is_refused(reg: Path) -> None:
    with pytest.raises(storage.StorageError, match="without the registry lock"):
        storage.write_all(reg, {reg / "models/demo/notes.txt": "hi\n"})
    assert not (reg / "models/demo/notes.txt").exists()


def test_a_registry_outside_git_is_not_written(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "models").mkdir(parents=True)
    with pytest.raises(storage.StorageError, match=r"not inside a git repository .*git init"):
        take_lock(root)
    assert sorted(p.name for p in root.iterdir()) == ["models"]


def test_add_fails_at_once_while_another_add_of_the_model_runs(reg: Path) -> None:
    onnx = reg / "models/demo/1.1.0/model.onnx"
    with holding(reg, kind="model") as holder:
        start = time.monotonic()
        done = modelreg(reg, "add", "demo", "1.2.0", "--onnx", str(onnx), "--from", "1.1.0",
                        "--runs", "0", MODELREG_LOCK_WAIT="60")  # fmt: skip
        assert time.monotonic() - start < 30  # at once, whatever MODELREG_LOCK_WAIT says
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"modelreg: error: another `modelreg add` (pid {holder.pid}: modelreg add demo) is "
        "adding a version of this model; wait for it\n"
    )
    assert not (reg / "models/demo/1.2.0").exists()


def test_overlays_writes_under_the_registry_lock(reg: Path) -> None:
    from gitops_support import add_overlays

    add_overlays(reg, {"demo": ["1.1.0"]}, {"demo": "1.1.0"})
    stale = reg / "overlays/demo/v1.0.0/kustomization.yaml"
    stale.write_text("# stale\n")
    with holding(reg) as holder:
        done = modelreg(reg, "overlays", MODELREG_LOCK_WAIT="0.3")
        assert done.returncode == 1, done.stderr
        assert f"(pid {holder.pid}: holder) is writing this registry" in done.stderr
        assert stale.read_text() == "# stale\n"
        dry = modelreg(reg, "overlays", "-n", MODELREG_LOCK_WAIT="0")  # writes nothing: no lock
        assert (dry.returncode, dry.stdout) == (0, "would write overlays/demo/v1.0.0\n")
    done = modelreg(reg, "overlays", MODELREG_LOCK_WAIT="0")
    assert (done.returncode, done.stdout) == (0, "wrote overlays/demo/v1.0.0\n"), done.stderr
    assert stale.read_text().startswith("# Generated by `modelreg overlays`")


# -- the journal ---------------------------------------------------------------------------

#: A child that writes two files as one change and is SIGKILLed right after the commit point.
KILLED_AFTER_COMMIT = """
import os, signal, sys
from pathlib import Path
from modelreg import storage
root = Path(sys.argv[1])
def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)
storage._apply = die
with storage.registry_lock(root, "victim"):
    storage.write_all(root, {root / "models/demo/a.txt": "new a\\n",
                             root / "models/demo/b.txt": "new b\\n"})
"""


def test_a_write_killed_after_its_commit_is_finished_by_the_next_writer_only(reg: Path) -> None:
    (reg / "models/demo/a.txt").write_text("old a\n")
    victim = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, str(reg)], env=_env(), check=False
    )
    assert victim.returncode == -signal.SIGKILL
    journal = reg / ".git" / "modelreg" / "journal"
    assert json.loads(journal.read_text())["moves"] == [
        ["models/demo/.a.txt.modelreg-new", "models/demo/a.txt"],
        ["models/demo/.b.txt.modelreg-new", "models/demo/b.txt"],
    ]
    # Readers neither replay nor mind it.
    for argv in (("validate", "--fast"), ("list",), ("render", "--check")):
        modelreg(reg, *argv)
        assert (reg / "models/demo/a.txt").read_text() == "old a\n", argv
        assert journal.is_file(), argv
    done = modelreg(reg, "render")  # the next writer finishes the renames first
    assert done.returncode == 0, done.stderr
    assert not journal.exists()
    assert (reg / "models/demo/a.txt").read_text() == "new a\n"
    assert (reg / "models/demo/b.txt").read_text() == "new b\n"
    assert not list((reg / "models/demo").glob(".*.modelreg-new"))


def _journal(reg: Path, moves: list[list[str]], remove: list[str] | None = None) -> Path:
    doc = {
        "version": 1,
        "root": str(reg.resolve()),
        "pid": 1,
        "moves": moves,
        "remove": remove or [],
    }
    state = reg / ".git" / "modelreg"
    state.mkdir(exist_ok=True)
    (state / "journal").write_text(json.dumps(doc))
    return state / "journal"


BAD_JOURNALS = {
    "into .git": ([["models/demo/.evil", ".git/config"]], None, "inside .git"),
    "a hook": ([[".evil", ".git/hooks/pre-commit"]], None, "inside .git"),
    "case-folded .git": ([[".evil", ".GIT/config"]], None, "inside .git"),
    "out of the root": ([["../.evil", "../canary.txt"]], None, "only plain relative paths"),
    "absolute": ([["/tmp/.evil", "/tmp/x"]], None, "only plain relative paths"),
    "not beside": ([["models/.evil", "models/demo/model.yaml"]], None, "hidden temporary"),
    "not hidden": ([["models/demo/evil", "models/demo/model.yaml"]], None, "hidden temporary"),
    "remove in .git": ([], [".git/HEAD"], "inside .git"),
    "remove outside": ([], ["../outside/canary.txt"], "only plain relative paths"),
    "through a symlink": ([["link/.evil", "link/x"]], None, "is a symlink"),
}


@pytest.mark.parametrize("case", list(BAD_JOURNALS))
def test_a_journal_that_leaves_the_work_tree_is_refused_and_nothing_moves(
    reg: Path, tmp_path: Path, case: str
) -> None:
    moves, remove, why = BAD_JOURNALS[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text("canary\n")
    (reg / "link").symlink_to(outside)
    for source in ("models/demo/.evil", ".evil", "models/.evil", "models/demo/evil"):
        (reg / source).write_text("[core]\n\tfsmonitor = touch pwned\n")
    journal = _journal(reg, [["models/demo/.evil", "models/demo/x.txt"], *moves], remove)
    config = (reg / ".git/config").read_bytes()
    with pytest.raises(storage.StorageError) as raised:
        take_lock(reg)
    message = str(raised.value)
    assert message.startswith((f"{journal} names ", f"{journal} moves "))
    assert why in message and f"delete it (rm {journal})" in message
    assert "\n" not in message
    assert (reg / ".git/config").read_bytes() == config
    assert not (reg / "models/demo/x.txt").exists()  # not even the good first move ran
    assert (outside / "canary.txt").read_text() == "canary\n"
    assert journal.is_file()
    assert not storage.held(reg)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "is unreadable"),
        ('{"version": 2, "moves": [], "remove": []}', "is not a version 1 modelreg journal"),
        ('{"version": 1, "root": "/elsewhere", "moves": [], "remove": []}', "was written for"),
        ('{"version": 1, "root": "ROOT", "moves": [["a"]], "remove": []}', "not a [source"),
        ('{"version": 1, "root": "ROOT", "moves": {}, "remove": []}', "no list of moves"),
    ],
)
def test_a_malformed_journal_is_refused(reg: Path, text: str, why: str) -> None:
    journal = _journal(reg, [])
    journal.write_text(text.replace("ROOT", str(reg.resolve())))
    with pytest.raises(storage.StorageError, match="delete it") as raised:
        take_lock(reg)
    assert why in str(raised.value)


def test_a_write_through_a_symlinked_directory_is_refused_before_its_commit(
    reg: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (reg / "models/demo/linked").symlink_to(tmp_path / "elsewhere")
    with storage.registry_lock(reg, "test"), pytest.raises(storage.StorageError, match="symlink"):
        storage.write_all(reg, {reg / "models/demo/linked/x.txt": "x"})
    assert not (reg / ".git/modelreg/journal").exists()
    assert list((tmp_path / "elsewhere").iterdir()) == []  # not even a temporary


def test_a_planted_temporary_is_replaced_not_written_through(reg: Path, tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("outside\n")
    (reg / "models/demo/.notes.txt.modelreg-new").symlink_to(target)
    with storage.registry_lock(reg, "test"):
        storage.write_all(reg, {reg / "models/demo/notes.txt": "notes\n"})
    assert target.read_text() == "outside\n"
    notes = reg / "models/demo/notes.txt"
    assert notes.read_text() == "notes\n" and not notes.is_symlink()


# -- replace_directory: a whole directory at once (the catalog site) -------------------------


@pytest.mark.parametrize("bad", ["../escape.html", "/abs.html", ""])
def test_replace_directory_leaves_the_old_one_when_a_file_is_refused(
    tmp_path: Path, bad: str
) -> None:
    from modelreg.storage import StorageError, replace_directory

    target = tmp_path / "site"
    replace_directory(target, {"index.html": b"old\n", "a/b.html": b"b\n"})
    assert (target / "a" / "b.html").read_bytes() == b"b\n"
    with pytest.raises(StorageError, match="not a path inside the directory"):
        replace_directory(target, {"index.html": b"new\n", bad: b"x\n"})
    assert (target / "index.html").read_bytes() == b"old\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging left beside
    assert not (tmp_path / "escape.html").exists()
