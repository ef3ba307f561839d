"""``modelreg inspect``: print an ONNX file's facts as metadata.yaml blocks."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from modelreg.commands._options import add_output
from modelreg.onnx.facts import facts_to_json, facts_to_yaml, inspect_file

OUTPUT_FORMATS = ("yaml", "json")

ORDER = 20  # place in `modelreg --help`

HELP = "print an ONNX file's facts as metadata.yaml blocks"
DESCRIPTION = """\
Read an ONNX file (without loading its external data) and print what it declares, in
exactly the shape of metadata.yaml's `artifact` and `onnx` blocks: the file's sha256 and
size and those of every external data file it references, the IR version, the opset of
each operator domain (the default domain is written `ai.onnx`), the producer, and each
input and output with its element type and shape (a number, a symbolic name, or null for
an unknown dimension). Paste the output into metadata.yaml; `modelreg validate` checks the
metadata against these same facts.

The YAML output ends with the operator inventory (`<domain>::<OpType>: count`, subgraphs
and local functions included) as comments, for review; `--output json` has it under `ops`.

Needs onnx (pip install 'modelreg[onnx]'), not onnxruntime.
exit status: 0 printed, 1 not a readable ONNX file or an unsafe external data location.
"""
EPILOG = """\
examples:
  modelreg inspect models/bert-classifier/1.1.0/model.onnx
  modelreg inspect model.onnx >> metadata.yaml      # then tidy the blocks in an editor
  modelreg inspect model.onnx --output json | jq '.onnx.inputs'
"""


@dataclass(frozen=True)
class Request:
    """A parsed ``inspect`` invocation, runnable without argv."""

    path: Path
    output: str


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``inspect``."""
    p = subparsers.add_parser(
        "inspect",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, metavar="FILE.onnx", help="the ONNX file to inspect")
    add_output(
        p,
        OUTPUT_FORMATS,
        default="yaml",
        help="yaml (default; metadata blocks to paste) or json (every fact, `ops` included)",
    )
    p.set_defaults(handler=from_args)


def from_args(args: argparse.Namespace) -> int:
    """Build the request from parsed arguments and run it."""
    return execute(Request(path=args.path, output=args.output))


def execute(request: Request) -> int:
    """Inspect the file and print its facts to stdout; return the exit code."""
    facts = inspect_file(request.path)
    text = facts_to_json(facts) if request.output == "json" else facts_to_yaml(facts)
    sys.stdout.write(text)
    return 0
