"""Generate the large or binary cases of the bad-input corpus (tests/corpus/).

Small cases are committed as files under ``tests/corpus/``; the cases listed in
``tests/corpus/cases.yaml`` with ``gen: NAME`` are made here, because they are large (a 50 MB
scalar), binary (ONNX bytes, non-UTF-8 text) or derived from a valid version (truncated at
several offsets, external data pointing out of the directory). ``tests/test_corpus.py`` calls
:func:`generate` on a copy of a valid version; run this script to look at the files::

    python scripts/gen_corpus.py --list
    python scripts/gen_corpus.py OUT_DIR --base models/bert-classifier/1.1.0/model.onnx

Every generator is deterministic: the same bytes on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

#: The size of the "huge scalar" case; metadata files are capped far below it.
HUGE_SCALAR_BYTES = 50 * 1024 * 1024
#: Nesting depth of the "deep nesting" cases.
DEEP = 10_000

Generator = Callable[[Path], None]
GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    """Register a generator: it writes its case at the given path (a file of a version)."""

    def register(fn: Generator) -> Generator:
        GENERATORS[name] = fn
        return fn

    return register


def generate(name: str, target: Path) -> None:
    """Write case ``name`` at ``target`` (which may already hold the valid file it breaks)."""
    try:
        fn = GENERATORS[name]
    except KeyError:
        raise SystemExit(f"gen_corpus: no generator {name!r} (see --list)") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fn(target)


# -- YAML -----------------------------------------------------------------------------------


@generator("yaml_huge_scalar")
def _yaml_huge_scalar(target: Path) -> None:
    with target.open("wb") as fh:
        fh.write(b"summary: ")
        chunk = b"a" * (1024 * 1024)
        for _ in range(HUGE_SCALAR_BYTES // len(chunk)):
            fh.write(chunk)
        fh.write(b"\n")


@generator("yaml_deep_flow_sequence")
def _yaml_deep_sequence(target: Path) -> None:
    target.write_bytes(b"summary: " + b"[" * DEEP + b"]" * DEEP + b"\n")


@generator("yaml_deep_flow_mapping")
def _yaml_deep_mapping(target: Path) -> None:
    target.write_bytes(b"summary: " + b"{a: " * DEEP + b"x" + b"}" * DEEP + b"\n")


@generator("yaml_deep_block_sequence")
def _yaml_deep_block(target: Path) -> None:
    # `- - - - x`: block sequences nested on one line, no indentation cost.
    target.write_bytes(b"summary:\n  " + b"- " * DEEP + b"x\n")


@generator("yaml_non_utf8")
def _yaml_non_utf8(target: Path) -> None:
    text = target.read_bytes()
    # Latin-1 "café" in the summary on line 4: 0xe9 is not UTF-8 on its own.
    lines = text.split(b"\n")
    lines[3] = b"summary: caf\xe9 release"
    target.write_bytes(b"\n".join(lines))


@generator("yaml_utf16")
def _yaml_utf16(target: Path) -> None:
    target.write_bytes(target.read_text(encoding="utf-8").encode("utf-16"))


def _with_duplicate(text: str) -> str:
    """The valid metadata with `summary:` repeated on line 5."""
    lines = text.splitlines(keepends=True)
    assert lines[3].startswith("summary:"), lines[3]
    lines.insert(4, "summary: a second summary\n")
    return "".join(lines)


@generator("yaml_bom_duplicate_key")
def _yaml_bom(target: Path) -> None:
    target.write_bytes(b"\xef\xbb\xbf" + _with_duplicate(target.read_text("utf-8")).encode())


@generator("yaml_crlf_duplicate_key")
def _yaml_crlf(target: Path) -> None:
    text = _with_duplicate(target.read_text("utf-8"))
    target.write_bytes(text.replace("\n", "\r\n").encode())


@generator("json_named_yaml")
def _json_named_yaml(target: Path) -> None:
    """The valid metadata as JSON (JSON is YAML), with a negative size on a known line."""
    import json

    import yaml

    data = yaml.safe_load(target.read_text("utf-8"))
    data["release_date"] = str(data["release_date"])
    data["artifact"]["size"] = -5
    target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# -- ONNX -----------------------------------------------------------------------------------


def _model(target: Path) -> Any:
    import onnx

    return onnx.load_model_from_string(target.read_bytes())


def _save(target: Path, model: Any) -> None:
    target.write_bytes(model.SerializeToString())


@generator("onnx_empty")
def _onnx_empty(target: Path) -> None:
    target.write_bytes(b"")


def _truncate(fraction: float | None, keep: int | None = None) -> Generator:
    def cut(target: Path) -> None:
        raw = target.read_bytes()
        n = keep if keep is not None else int(len(raw) * (fraction or 0))
        target.write_bytes(raw[: n if n >= 0 else len(raw) + n])

    return cut


for _name, _gen in {
    "onnx_truncated_at_1": _truncate(None, 1),
    "onnx_truncated_at_17": _truncate(None, 17),
    "onnx_truncated_at_half": _truncate(0.5),
    "onnx_truncated_last_byte": _truncate(None, -1),
}.items():
    GENERATORS[_name] = _gen


@generator("onnx_random_bytes")
def _onnx_random(target: Path) -> None:
    target.write_bytes(random.Random(9).randbytes(4096))


@generator("onnx_wrong_message")
def _onnx_wrong_message(target: Path) -> None:
    """A valid protobuf, but a TensorProto where a ModelProto belongs."""
    import numpy as np
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "W")
    target.write_bytes(tensor.SerializeToString())


@generator("onnx_ir_version_99")
def _onnx_ir99(target: Path) -> None:
    model = _model(target)
    model.ir_version = 99
    _save(target, model)


@generator("onnx_opset_99")
def _onnx_opset99(target: Path) -> None:
    model = _model(target)
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = 99
    _save(target, model)


@generator("onnx_custom_domain_undeclared_in_model")
def _onnx_custom_undeclared(target: Path) -> None:
    from onnx import helper

    model = _model(target)
    out = model.graph.output[0].name
    model.graph.node.append(helper.make_node("Exfiltrate", [out], ["x"], domain="com.evil"))
    _save(target, model)


@generator("onnx_custom_domain_undeclared_in_metadata")
def _onnx_custom_declared(target: Path) -> None:
    from onnx import helper

    model = _model(target)
    out = model.graph.output[0].name
    model.graph.node.append(helper.make_node("Exfiltrate", [out], ["x"], domain="com.evil"))
    model.opset_import.append(helper.make_opsetid("com.evil", 1))
    _save(target, model)


@generator("onnx_huge_declared_dims")
def _onnx_huge_dims(target: Path) -> None:
    """Input dims near 2**63 and an initializer declaring 2**62 elements with 8 bytes."""
    from onnx import TensorProto

    model = _model(target)
    for dim in model.graph.input[0].type.tensor_type.shape.dim:
        dim.Clear()
        dim.dim_value = 2**62
    huge = TensorProto(name="Huge", data_type=TensorProto.FLOAT, raw_data=b"\0" * 8)
    huge.dims.extend([2**31, 2**31])  # helper.make_tensor would refuse the mismatch
    model.graph.initializer.append(huge)
    _save(target, model)


@generator("onnx_graph_cycle")
def _onnx_cycle(target: Path) -> None:
    """Two nodes that feed each other."""
    from onnx import TensorProto, helper

    model = _model(target)
    graph = model.graph
    out = graph.output[0].name
    del graph.node[:]
    graph.node.extend(
        [
            helper.make_node("Cast", [graph.input[0].name], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["f", "b"], ["a"]),
            helper.make_node("Add", ["a", "f"], ["b"]),
            helper.make_node("Identity", ["b"], [out]),
        ]
    )
    _save(target, model)


@generator("onnx_recursive_function")
def _onnx_recursive_function(target: Path) -> None:
    """A model-local function whose body calls itself (inlining never ends)."""
    from onnx import helper

    model = _model(target)
    domain = "local.recursion"
    loop = helper.make_function(
        domain,
        "Loop",
        ["x"],
        ["y"],
        [helper.make_node("Loop", ["x"], ["y"], domain=domain)],
        [helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)],
    )
    model.functions.append(loop)
    model.opset_import.append(helper.make_opsetid(domain, 1))
    out = model.graph.output[0].name
    for node in model.graph.node:
        if out in node.output:
            node.output[list(node.output).index(out)] = "pre"
    model.graph.node.append(helper.make_node("Loop", ["pre"], [out], domain=domain))
    _save(target, model)


def _externalize(target: Path, data_name: str, **entries: str) -> None:
    """Store the first initializer externally in ``data_name``, then override entries."""
    from onnx import TensorProto

    model = _model(target)
    tensor = model.graph.initializer[0]
    raw = tensor.raw_data or _float_bytes(tensor)
    if data_name == "weights.bin":
        (target.parent / data_name).write_bytes(raw)
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    values = {"location": data_name, "offset": "0", "length": str(len(raw)), **entries}
    for key, value in values.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    _save(target, model)


def _float_bytes(tensor: Any) -> bytes:
    from onnx import numpy_helper

    return bytes(numpy_helper.to_array(tensor).tobytes())


@generator("external_dotdot")
def _external_dotdot(target: Path) -> None:
    _externalize(target, "../1.0.0/model.onnx")


@generator("external_absolute")
def _external_absolute(target: Path) -> None:
    _externalize(target, "/etc/passwd")


@generator("external_symlink")
def _external_symlink(target: Path) -> None:
    outside = target.parent.parent / "1.0.0" / "model.onnx"
    _externalize(target, "weights.bin")
    (target.parent / "weights.bin").unlink()
    (target.parent / "weights.bin").symlink_to(os.path.relpath(outside, target.parent))


@generator("external_hardlink")
def _external_hardlink(target: Path) -> None:
    _externalize(target, "weights.bin")
    outside = target.parent.parent / "weights-copy.bin"
    os.link(target.parent / "weights.bin", outside)


@generator("external_range_past_end")
def _external_past_end(target: Path) -> None:
    _externalize(target, "weights.bin", offset="4096", length="8")


@generator("external_negative_offset")
def _external_negative(target: Path) -> None:
    _externalize(target, "weights.bin", offset="-8")


@generator("external_length_overflow")
def _external_overflow(target: Path) -> None:
    _externalize(target, "weights.bin", length=str(2**64))


# -- Git LFS --------------------------------------------------------------------------------


def _pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


@generator("lfs_pointer_malformed")
def _lfs_malformed(target: Path) -> None:
    target.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:xyz\nsize 12\n")


@generator("lfs_pointer_wrong_size")
def _lfs_wrong_size(target: Path) -> None:
    raw = target.read_bytes()
    target.write_bytes(_pointer(hashlib.sha256(raw).hexdigest(), len(raw) + 1))


@generator("lfs_pointer_object_missing")
def _lfs_missing(target: Path) -> None:
    raw = target.read_bytes()
    target.write_bytes(_pointer(hashlib.sha256(raw).hexdigest(), len(raw)))


# -- schema: every required field missing in turn --------------------------------------------


def required_paths(schema: dict[str, Any], data: Any) -> Iterator[tuple[str | int, ...]]:
    """Every path of a required key present in ``data`` (follows local ``$ref``s)."""

    def resolve(sub: dict[str, Any]) -> dict[str, Any]:
        ref = sub.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return resolve(schema["$defs"][ref.removeprefix("#/$defs/")])
        return sub

    def walk(sub: dict[str, Any], value: Any, path: tuple[str | int, ...]) -> Iterator[Any]:
        sub = resolve(sub)
        if isinstance(value, dict):
            for key in sub.get("required", []):
                if key in value:
                    yield (*path, key)
            for key, child in (sub.get("properties") or {}).items():
                if key in value and isinstance(child, dict):
                    yield from walk(child, value[key], (*path, key))
        elif isinstance(value, list) and isinstance(sub.get("items"), dict):
            for i, item in enumerate(value):
                yield from walk(sub["items"], item, (*path, i))

    yield from walk(schema, data, ())


def without(data: Any, path: tuple[str | int, ...]) -> Any:
    """A deep copy of ``data`` without the key at ``path``."""
    import copy

    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write every generated case into a directory (or list the generators)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="directory to write the cases into")
    parser.add_argument("--base", type=Path, help="the valid version directory cases start from")
    parser.add_argument("--list", action="store_true", help="list the generators")
    args = parser.parse_args(argv)
    if args.list or args.out is None or args.base is None:
        sys.stdout.write("".join(f"{name}\n" for name in GENERATORS))
        return 0 if args.list else 2
    import shutil

    for name in GENERATORS:
        case = args.out / name
        shutil.copytree(args.base, case, symlinks=True)
        yaml_case = name.startswith(("yaml_", "json_"))
        generate(name, case / ("metadata.yaml" if yaml_case else "model.onnx"))
    sys.stderr.write(f"gen_corpus: wrote {len(GENERATORS)} cases into {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
