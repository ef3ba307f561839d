"""The ``modelreg`` command line: parse, then hand over to one command module.

Exit status: 0 success, 1 findings or a known error, 2 usage error, 3 unexpected error
(a bug), 130 interrupted. A known error prints one line that says how to fix it; no
traceback unless ``MODELREG_DEBUG=1``.

The environment is read here, once, into :class:`modelreg.config.Settings`, which the command
gets as ``args.settings`` and the worker pool as its own.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

from modelreg import __version__
from modelreg.commands import command_modules
from modelreg.config import Settings
from modelreg.errors import ModelregError
from modelreg.reporters import log_line


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one sub-command per module in :mod:`modelreg.commands`.

    Given the ``command`` about to run, only that command's parser (and module) is built.
    """
    parser = argparse.ArgumentParser(
        prog="modelreg",
        description="Git-native model registry toolkit: prove every ONNX file is what its "
        "metadata says, and deploy by merging to main.",
        epilog="Run `modelreg COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"modelreg {__version__}")
    # Every command's args has `settings`; main() sets it (a caller of parse_args gets None,
    # which library functions read as "the process environment").
    parser.set_defaults(settings=None)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in command_modules(command):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``modelreg`` and ``python -m modelreg``."""
    restore = _defer_interrupts_during_imports()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Anywhere: while parsing, importing a command, running checks or reporting.
        return _interrupted(process=argv is None)
    finally:
        restore()


def _defer_interrupts_during_imports() -> Callable[[], None]:
    """Ctrl-C raises KeyboardInterrupt as usual, except in the middle of an import.

    A KeyboardInterrupt inside a C extension's initialisation (onnxruntime importing numpy)
    comes out as an ImportError plus a traceback printed by the extension, and a check would
    report that instead of stopping. So while an import runs, the interrupt waits (re-checked
    every 20 ms) and is raised once the import is done. Returns what puts the previous
    handlers back.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        return lambda: None

    def importing(frame: FrameType | None) -> bool:
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                return True
            frame = frame.f_back
        return False

    def on_signal(_signum: int, frame: FrameType | None) -> None:
        if importing(frame):
            signal.setitimer(signal.ITIMER_REAL, 0.02)  # ask again (SIGALRM) in 20 ms
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise KeyboardInterrupt

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        on_signal(signum, frame)

    previous_int = signal.signal(signal.SIGINT, on_signal)
    # SIGALRM means "the deferred interrupt": only on_signal arms the timer.
    previous_alarm = signal.signal(signal.SIGALRM, on_alarm)

    def restore() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        if signal.getsignal(signal.SIGINT) is on_signal:  # not replaced by _interrupted
            signal.signal(signal.SIGINT, previous_int)

    return restore


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The first word that is not an option is the command (no top-level option takes a value).
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 on --help
        return int(exc.code or 0)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    settings = args.settings = Settings.from_env(os.environ)
    try:
        # Every isolated ONNX task of the command (add's inspect, evaluate and golden tasks,
        # bench, the gate) shares the warm workers of one pool; none start unless asked for.
        from modelreg.onnx import isolate

        with isolate.workers(1, settings):
            return int(handler(args))
    except ModelregError as exc:
        # Messages quote file names and values from the tree: no line may become a GitHub
        # workflow command in a CI log (reporters.log_line), intended line breaks stay.
        lines = f"modelreg: error: {exc}".split("\n")
        sys.stderr.write("\n".join(log_line(line) for line in lines) + "\n")
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); nothing more to say.
        sys.stderr.close()
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no raw traceback
        if settings.debug:
            traceback.print_exc()
        sys.stderr.write(
            f"modelreg: unexpected error: {type(exc).__name__}: {exc}\n"
            "This is a bug in modelreg; rerun with MODELREG_DEBUG=1 for a traceback and "
            "report it.\n"
        )
        return 3


def _interrupted(*, process: bool) -> int:
    """Ctrl-C: stop every child, say so in one line, exit 130.

    Writers have already cleaned up on the way out (their ``finally`` blocks and the
    journal, :mod:`modelreg.storage`). A second Ctrl-C must not cut this short into a
    traceback, so SIGINT is ignored meanwhile, and for the rest of the process when modelreg
    is the process (``process``: exiting still joins worker threads); an in-process caller
    gets its handler back.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        isolate = sys.modules.get("modelreg.onnx.isolate")  # loaded only if a child may exist
        if isolate is not None:
            isolate.stop_all()
        sys.stderr.write("modelreg: interrupted\n")
    finally:
        if previous is not None and not process:
            signal.signal(signal.SIGINT, previous)
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
