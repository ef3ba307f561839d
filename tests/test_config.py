"""modelreg.config: every setting read in one place, bad values refused with the variable named."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
from pathlib import Path

import pytest

from modelreg.config import MAX_MEMORY_MB, MAX_TIMEOUT_S, Settings, or_env
from modelreg.errors import ModelregError, UsageError
from modelreg.registry import Registry

SRC = Path(__file__).resolve().parents[1] / "src" / "modelreg"

#: Uses of the process environment outside config.py that are not settings, each with why.
ALLOWED: dict[tuple[str, str], str] = {
    ("cli.py", "Settings.from_env(os.environ)"): "the one read of the settings, at the top",
    ("config.py", "Settings.from_env(os.environ)"): "or_env: library callers without settings",
    ("storage.py", "os.environ"): "git runs with the user's environment plus two settings",
    ("git/repo.py", "dict(os.environ)"): "git runs with the user's environment",
    ("gitops/kustomize.py", "os.environ.items()"): "kustomize gets the environment minus "
    "KUSTOMIZE_* (which would change its output)",
    ("gitops/kustomize.py", "k not in os.environ"): "Go runtime defaults unless the user set them",
    ("onnx/isolate.py", "os.environ"): "a worker starts with the parent's environment (and so "
    "reads the same settings: onnx/worker.py)",
    ("onnx/session.py", "os.environ.setdefault(key, value)"): "onnxruntime's own thread "
    "variables, set for the library, not read by modelreg",
}


def _environ_uses(tree: ast.AST) -> list[str]:
    """The smallest enclosing expression of every ``os.environ`` / ``os.getenv`` mention."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in {"environ", "getenv", "environb", "getenvb"}
        ):
            continue
        # Climb while the mention is the object of an attribute, a call or a subscript, to
        # show what it does with the environment (".get(...)", "[...]", "dict(...)").
        use: ast.AST = node
        while (parent := parents.get(use)) is not None and isinstance(
            parent, ast.Attribute | ast.Call | ast.Subscript | ast.Compare | ast.Starred
        ):
            use = parent
        found.append(ast.unparse(use))
    return found


def _uses() -> dict[tuple[str, str], int]:
    uses: dict[tuple[str, str], int] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for text in _environ_uses(ast.parse(path.read_text(encoding="utf-8"))):
            uses[rel, text] = uses.get((rel, text), 0) + 1
    return uses


def test_no_module_but_config_reads_the_environment() -> None:
    unexpected = sorted(set(_uses()) - set(ALLOWED))
    assert not unexpected, (
        "read the setting in modelreg/config.py (a Settings field) and pass it down, "
        f"or list the use in ALLOWED with its reason: {unexpected}"
    )


def test_every_allowed_use_still_exists() -> None:
    stale = sorted(set(ALLOWED) - set(_uses()))
    assert not stale, f"remove from ALLOWED: {stale}"


def test_the_ast_scan_sees_every_form_of_read() -> None:
    source = (
        "import os\n"
        "a = os.environ.get('X')\n"
        "b = os.environ['Y']\n"
        "c = os.getenv('Z')\n"
        "d = 'W' in os.environ\n"
    )
    assert sorted(_environ_uses(ast.parse(source))) == [
        "'W' in os.environ",
        "os.environ.get('X')",
        "os.environ['Y']",
        "os.getenv('Z')",
    ]


def test_no_module_reads_a_setting_at_import_time() -> None:
    # Module-level code of the modules that once did: their limits are Settings defaults.
    from modelreg.gitops import kustomize

    assert kustomize.TIMEOUT_SECONDS == Settings().kustomize_timeout_s == 120.0
    assert kustomize.MEMORY_MB == Settings().kustomize_memory_mb == 768


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.problems == {}
    assert (settings.child_timeout_s, settings.child_memory_mb, settings.worker_tasks) == (
        300.0,
        None,
        200,
    )
    assert (settings.max_eval_mb, settings.max_external_tensors, settings.max_file_mb) == (
        4096,
        1_000_000,
        65536,
    )
    assert (settings.kustomize, settings.kubernetes_version, settings.lock_wait_s) == ("", "", 30)
    assert (settings.no_cache, settings.debug, settings.progress) == (False, False, True)
    assert (settings.force_color, settings.no_color, settings.source_date_epoch) == (
        False,
        False,
        None,
    )


def test_good_values() -> None:
    settings = Settings.from_env(
        {
            "MODELREG_CHILD_TIMEOUT": " 2.5 ",
            "MODELREG_CHILD_MEMORY_MB": str(MAX_MEMORY_MB),
            "MODELREG_WORKER_TASKS": "1",
            "MODELREG_MAX_EVAL_MB": "256",
            "MODELREG_MAX_EXTERNAL_TENSORS": "0",
            "MODELREG_MAX_FILE_MB": "7",
            "MODELREG_KUSTOMIZE": " /bin/kustomize ",
            "MODELREG_KUSTOMIZE_TIMEOUT": "30",
            "MODELREG_KUSTOMIZE_MEMORY_MB": "256",
            "MODELREG_KUBERNETES_VERSION": "v1.30",
            "MODELREG_LOCK_WAIT": "-4",
            "MODELREG_NO_CACHE": "1",
            "MODELREG_DEBUG": "1",
            "CI": "true",
            "FORCE_COLOR": "1",
            "NO_COLOR": "1",
            "SOURCE_DATE_EPOCH": "86400",
        }
    )
    assert settings.problems == {}
    assert dataclasses.replace(settings) == Settings(
        child_timeout_s=2.5,
        child_memory_mb=MAX_MEMORY_MB,
        worker_tasks=1,
        max_eval_mb=256,
        max_external_tensors=0,
        max_file_mb=7,
        kustomize="/bin/kustomize",
        kustomize_timeout_s=30.0,
        kustomize_memory_mb=256,
        kubernetes_version="1.30",
        lock_wait_s=0.0,  # a negative wait is no wait
        no_cache=True,
        debug=True,
        progress=False,
        force_color=True,
        no_color=True,
        source_date_epoch=86400,
    )
    assert Settings.from_env({"MODELREG_NO_CACHE": "0", "NO_PROGRESS": "1"}).no_cache is False
    assert Settings.from_env({"NO_PROGRESS": "1"}).progress is False


@pytest.mark.parametrize(
    ("variable", "value", "field", "error", "message"),
    [
        ("MODELREG_CHILD_TIMEOUT", "abc", "child_timeout_s", UsageError,
         "MODELREG_CHILD_TIMEOUT='abc': give a positive number of seconds up to 604800"),
        ("MODELREG_CHILD_TIMEOUT", "1e300", "child_timeout_s", UsageError,
         "MODELREG_CHILD_TIMEOUT='1e300': give a positive number of seconds up to 604800"),
        ("MODELREG_CHILD_TIMEOUT", "0", "child_timeout_s", UsageError,
         "MODELREG_CHILD_TIMEOUT='0': give a positive number of seconds up to 604800"),
        ("MODELREG_CHILD_MEMORY_MB", "²", "child_memory_mb", UsageError,
         "MODELREG_CHILD_MEMORY_MB='²': give a whole number of megabytes from 1 to 1073741824"),
        ("MODELREG_CHILD_MEMORY_MB", "9" * 20, "child_memory_mb", UsageError,
         f"MODELREG_CHILD_MEMORY_MB='{'9' * 20}': give a whole number of megabytes from 1 to "
         "1073741824"),
        ("MODELREG_CHILD_MEMORY_MB", "0", "child_memory_mb", UsageError,
         "MODELREG_CHILD_MEMORY_MB='0': give a whole number of megabytes from 1 to 1073741824"),
        ("MODELREG_WORKER_TASKS", "-1", "worker_tasks", UsageError,
         "MODELREG_WORKER_TASKS='-1': give a whole number of tasks >= 1"),
        ("MODELREG_MAX_EVAL_MB", "lots", "max_eval_mb", ModelregError,
         "MODELREG_MAX_EVAL_MB is not an integer: invalid literal for int() with base 10: "
         "'lots'"),
        ("MODELREG_MAX_FILE_MB", "1.5", "max_file_mb", ModelregError,
         "MODELREG_MAX_FILE_MB is not an integer: invalid literal for int() with base 10: "
         "'1.5'"),
        ("MODELREG_MAX_EXTERNAL_TENSORS", "x", "max_external_tensors", ModelregError,
         "MODELREG_MAX_EXTERNAL_TENSORS is not an integer: invalid literal for int() with base 10: "
         "'x'"),
        ("MODELREG_KUSTOMIZE_TIMEOUT", "soon", "kustomize_timeout_s", UsageError,
         "MODELREG_KUSTOMIZE_TIMEOUT='soon': give a positive number of seconds"),
        ("MODELREG_KUSTOMIZE_MEMORY_MB", "1GB", "kustomize_memory_mb", UsageError,
         "MODELREG_KUSTOMIZE_MEMORY_MB='1GB': give a whole number of megabytes >= 1"),
        ("MODELREG_LOCK_WAIT", "forever", "lock_wait_s", ModelregError,
         "MODELREG_LOCK_WAIT is not a number of seconds"),
        ("SOURCE_DATE_EPOCH", "yesterday", "source_date_epoch", UsageError,
         "SOURCE_DATE_EPOCH='yesterday': expected seconds since 1970"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_when_its_setting_is_used(
    variable: str, value: str, field: str, error: type[ModelregError], message: str
) -> None:
    settings = Settings.from_env({variable: value})  # never raises: `list` needs no worker
    assert set(settings.problems) == {field}
    assert settings.valid() is settings
    assert settings.valid("debug", "no_cache") is settings  # other settings stay usable
    with pytest.raises(error) as caught:
        settings.valid("debug", field)
    assert str(caught.value) == message
    assert type(caught.value) is error
    assert getattr(settings, field) == getattr(Settings(), field)  # the default meanwhile
    assert MAX_TIMEOUT_S == 604800


def test_more_digits_than_int_takes_is_a_refusal_not_a_traceback() -> None:
    settings = Settings.from_env({"MODELREG_WORKER_TASKS": "9" * 5000})
    with pytest.raises(UsageError, match=r"^MODELREG_WORKER_TASKS='9+': give a whole number"):
        settings.valid("worker_tasks")


def test_the_cache_key_sees_the_settings_that_change_verdicts() -> None:
    base = Settings().fingerprint()
    assert Settings(max_file_mb=1).fingerprint() != base
    assert Settings(child_timeout_s=1).fingerprint() != base
    assert Settings.from_env({"MODELREG_MAX_EVAL_MB": "x"}).fingerprint() != base
    # Output and writer settings do not: a cached pass holds under either.
    for quiet in ("debug", "no_color", "force_color", "no_cache"):
        assert Settings(**{quiet: True}).fingerprint() == base  # type: ignore[arg-type]  # bool
    assert Settings(progress=False, lock_wait_s=1, source_date_epoch=5).fingerprint() == base


def test_or_env_reads_the_process_environment_only_without_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELREG_WORKER_TASKS", "7")
    assert or_env(None).worker_tasks == 7
    given = Settings(worker_tasks=3)
    assert or_env(given) is given


# -- handed down: an explicit Settings wins over the process environment ----------------------


def test_the_pool_judges_tasks_by_its_own_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelreg.onnx import isolate

    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "bad")  # not what the pool was given
    given = Settings(child_timeout_s=2.5, child_memory_mb=700, worker_tasks=3)
    assert isolate.timeout_s(given) == 2.5
    assert isolate.memory_limit_mb(tmp_path / "absent.onnx", given) == 700
    assert isolate.tasks_per_worker(given) == 3
    with pytest.raises(UsageError, match="MODELREG_CHILD_TIMEOUT='bad'"):
        isolate.timeout_s()  # no settings: the environment's
    refused = Settings.from_env({"MODELREG_WORKER_TASKS": "0"})
    with isolate.Pool(1, refused) as pool:
        with pytest.raises(UsageError, match=r"^MODELREG_WORKER_TASKS='0': give a whole"):
            pool.submit("inspect", tmp_path / "m.onnx", {})
        assert pool.settings is refused
    assert not isolate._LIVE  # refused before any worker started


def test_kustomize_builds_as_its_settings_say(tmp_path: Path) -> None:
    from modelreg.gitops import kustomize

    absent = Settings(kustomize=str(tmp_path / "no-such-kustomize"))
    with pytest.raises(ModelregError, match="no-such-kustomize is not an executable"):
        kustomize.build(tmp_path, settings=absent)
    slow = Settings.from_env({"MODELREG_KUSTOMIZE_TIMEOUT": "-1"})
    with pytest.raises(UsageError, match=r"^MODELREG_KUSTOMIZE_TIMEOUT='-1': give a positive"):
        kustomize.build(tmp_path, settings=slow)


def test_output_cache_lock_and_dates_follow_their_settings(tmp_path: Path) -> None:
    import io

    from modelreg import reporters, storage
    from modelreg.checks.cache import DeepCache
    from modelreg.render.asof import reference_date

    assert reporters.use_colour(io.StringIO(), Settings(force_color=True)) is True
    assert reporters.use_colour(io.StringIO(), Settings(no_color=True)) is False
    assert DeepCache.for_registry(tmp_path, Settings(no_cache=True)) is None
    refused = Settings.from_env({"MODELREG_LOCK_WAIT": "soon"})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # the lock lives in .git
    lock = storage.registry_lock(tmp_path, "test", refused)
    with (
        pytest.raises(ModelregError, match=r"^MODELREG_LOCK_WAIT is not a number of seconds$"),
        lock,
    ):
        pass
    day = reference_date(tmp_path, None, None, Settings(source_date_epoch=86400 * 365))
    assert day.isoformat() == "1971-01-01"


def test_a_command_that_never_uses_a_bad_setting_does_not_fail_on_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelreg.cli import main

    monkeypatch.setenv("MODELREG_WORKER_TASKS", "0")
    monkeypatch.setenv("MODELREG_CHILD_TIMEOUT", "soon")
    assert main(["list"]) == 0, capsys.readouterr()
    assert main(["validate", "--fast"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["validate", "--no-cache", "models/demo/1.1.0"]) == 2
    assert capsys.readouterr().err == (
        "modelreg: error: MODELREG_CHILD_TIMEOUT='soon': give a positive number of seconds "
        "up to 604800\n"
    )


@pytest.mark.parametrize(
    ("variable", "value", "select", "message"),
    [
        ("MODELREG_KUSTOMIZE_TIMEOUT", "abc", "MR610",
         "MODELREG_KUSTOMIZE_TIMEOUT='abc': give a positive number of seconds"),
        ("MODELREG_KUSTOMIZE_MEMORY_MB", "x", "MR629",
         "MODELREG_KUSTOMIZE_MEMORY_MB='x': give a whole number of megabytes >= 1"),
    ],
)  # fmt: skip
def test_a_bad_kustomize_setting_is_a_usage_error_not_a_finding(  # noqa: PLR0917 - parameters
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    select: str,
    message: str,
) -> None:
    from gitops_support import add_overlays
    from modelreg.cli import main

    add_overlays(registry.root, {"demo": ["1.0.0", "1.1.0"]}, {"demo": "1.1.0"})
    monkeypatch.setenv(variable, value)
    assert main(["validate", "--no-cache", "--select", select]) == 2
    assert capsys.readouterr() == ("", f"modelreg: error: {message}\n")
