"""The options commands share (--root, --output, --dry-run) are defined once, in
modelreg/commands/_options.py, and every command that takes one still shows it in --help."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from modelreg.cli import main
from modelreg.commands import command_names

COMMANDS = Path(__file__).resolve().parents[1] / "src" / "modelreg" / "commands"
SHARED = ("--root", "--output", "--dry-run", "-n")

#: Which shared option each command takes (a command that gains or loses one updates this).
EXPECTED: dict[str, set[str]] = {
    "add": {"--dry-run", "--root"},
    "bench": {"--output", "--root"},
    "ci_matrix": {"--output", "--root"},
    "gate": {"--output", "--root"},
    "init": {"--dry-run"},
    "inspect": {"--output"},
    "list": {"--output", "--root"},
    "overlays": {"--dry-run", "--output", "--root"},
    "plan": {"--dry-run", "--output", "--root"},
    "promote": {"--dry-run", "--root"},
    "pull": {"--dry-run", "--root"},
    "release": {"--dry-run", "--output", "--root"},
    "render": {"--dry-run", "--output", "--root"},
    "rollback": {"--dry-run", "--root"},
    "show": {"--output", "--root"},
    "validate": {"--output", "--root"},
}


def _own_definitions(path: Path) -> list[str]:
    """``line: flag`` of every add_argument call in ``path`` that names a shared option."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            flags = [a.value for a in node.args if isinstance(a, ast.Constant)]
            found += [f"{node.lineno}: {f}" for f in flags if f in SHARED]
    return found


@pytest.mark.parametrize("name", command_names())
def test_no_command_defines_a_shared_option_itself(name: str) -> None:
    assert _own_definitions(COMMANDS / f"{name}.py") == [], (
        f"commands/{name}.py: use add_root/add_output/add_dry_run from commands/_options.py"
    )


def test_the_scan_finds_an_own_definition(tmp_path: Path) -> None:
    module = tmp_path / "cmd.py"
    module.write_text(
        "def add_parser(p):\n"
        '    p.add_argument("-n", "--dry-run", action="store_true")\n'
        '    group.add_argument("--root")\n'
        '    p.add_argument("--rooted")\n',
        encoding="utf-8",
    )
    assert _own_definitions(module) == ["2: -n", "2: --dry-run", "3: --root"]


def test_every_command_is_listed() -> None:
    assert sorted(EXPECTED) == command_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_help_shows_the_shared_options(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = name.replace("_", "-")
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps at the terminal width
    shown = {f for f in ("--root", "--output", "--dry-run") if re.search(rf" {f}(?![\w-])", text)}
    assert shown == EXPECTED[name], text
    if "--root" in shown:
        assert "--root ROOT" in text
        assert "registry root (default: found from the current directory)" in text
    if "--dry-run" in shown:
        assert "-n, --dry-run" in text
    if "--output" in shown:
        assert "--output {" in text


def test_per_command_wording_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--output {text,json,github}" in out
    assert "json (versioned report)" in out
    assert main(["inspect", "--help"]) == 0
    assert "yaml (default; metadata blocks to paste)" in capsys.readouterr().out
    assert main(["plan", "--help"]) == 0
    assert "accepted for symmetry; plan never writes" in capsys.readouterr().out
    assert main(["ci-matrix", "--help"]) == 0
    assert "--output {json,github}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "output"),
    [(["list"], "text"), (["ci-matrix", "--shards", "1"], "json"), (["inspect", "m.onnx"], "yaml")],
)
def test_defaults_are_kept(argv: list[str], output: str) -> None:
    from modelreg.cli import build_parser

    args = build_parser(argv[0]).parse_args(argv)
    assert args.output == output
    assert getattr(args, "root", None) is None
    assert getattr(args, "dry_run", False) is False
