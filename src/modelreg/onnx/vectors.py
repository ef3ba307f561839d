"""Golden test vectors in the ONNX test-data layout, run on an onnxruntime CPU session.

A set is a directory ``test_data_set_N`` with ``input_K.pb`` and ``output_K.pb`` (serialized
TensorProto, positional K), as in onnx's own backend tests. A non-tensor output (a sequence
or a map, e.g. the sequence of maps skl2onnx's ZipMap emits) is a SequenceProto or MapProto,
chosen by the output's declared type. Floating values must satisfy
``|actual - expected| <= atol + rtol * |expected|`` element-wise; integers, booleans, strings,
map keys and sequence lengths must be equal. Runs inside the isolated child
(:mod:`modelreg.onnx.worker`).

Set directories and their files are listed and read through :mod:`modelreg.treefs` rooted at
the version directory: a symlinked set directory or vector file is a malformed set, never a
read (the parent reports the link itself as MR006).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modelreg.onnx.evaluation import npz_problems
from modelreg.onnx.session import cpu_session
from modelreg.treefs import Refused, Tree

_FILE = re.compile(r"^(input|output)_(\d+)\.pb$")
#: onnxruntime's type strings for the element types a feed may have.
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32", "tensor(uint64)": "uint64", "tensor(bool)": "bool",
    "tensor(string)": "object",
}  # fmt: skip


def _numbered(tree: Tree, directory: Path, kind: str) -> list[Path]:
    found: dict[int, Path] = {}
    for entry in tree.listdir(directory):
        match = _FILE.match(entry.name)
        if match and match.group(1) == kind:
            if entry.kind == "symlink":
                raise Refused(entry.rel, "symlink", entry.link)
            found[int(match.group(2))] = entry.path
    expected = list(range(len(found)))
    if sorted(found) != expected:
        raise ValueError(
            f"{kind} files must be numbered {kind}_0.pb … {kind}_{len(found) - 1}.pb "
            f"without gaps; found {sorted(found)}"
        )
    return [found[i] for i in expected]


def _set_files(tree: Tree, directory: Path) -> tuple[list[Path], list[Path]]:
    """A set's input and output files, listed without following a link (Refused if any)."""
    try:
        return _numbered(tree, directory, "input"), _numbered(tree, directory, "output")
    except (FileNotFoundError, NotADirectoryError):
        raise ValueError("the directory does not exist") from None


def _load(tree: Tree, path: Path, ort_type: str = "tensor") -> Any:
    """The value in ``path``: an array, or for ``seq(...)``/``map(...)`` a list or dict."""
    import onnx
    from onnx import numpy_helper

    kind, proto, convert = {
        "seq": ("SequenceProto", onnx.SequenceProto(), numpy_helper.to_list),
        "map": ("MapProto", onnx.MapProto(), numpy_helper.to_dict),
    }.get(ort_type[:3], ("TensorProto", onnx.TensorProto(), numpy_helper.to_array))
    try:
        proto.ParseFromString(tree.read_bytes(path))
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError has no typed import
        raise ValueError(f"{path.name} is not a serialized {kind} ({exc})") from None
    try:
        return convert(proto)
    except Exception as exc:  # noqa: BLE001 - malformed protos raise several error types
        raise ValueError(f"{path.name} holds a malformed {kind} ({exc})") from None


def _to_proto(value: Any, ort_type: str, name: str) -> Any:
    """Serialize a session output as the test-data convention stores it."""
    import numpy as np
    from onnx import numpy_helper

    if ort_type.startswith("seq("):
        return numpy_helper.from_list([_typed(v, ort_type[4:-1]) for v in value], name)
    if ort_type.startswith("map("):
        return numpy_helper.from_dict(_typed(value, ort_type), name)
    return numpy_helper.from_array(np.asarray(value), name)


def _typed(value: Any, ort_type: str) -> Any:
    """Python floats from onnxruntime's maps, cast back to the declared element type."""
    import numpy as np

    if ort_type.startswith("map("):
        inner = ort_type[4:-1].split(",", 1)[1]
        return {k: _typed(v, inner) for k, v in value.items()}
    if ort_type.startswith("seq("):
        return [_typed(v, ort_type[4:-1]) for v in value]
    dtype = _ORT_TYPES.get(ort_type)
    return np.asarray(value, dtype=dtype) if dtype and dtype != "object" else np.asarray(value)


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, array)`` for every tensor inside nested sequences and maps, in order."""
    import numpy as np

    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key], f"{prefix}[{key!r}]")]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{prefix}[{i}]")]
    return [(prefix, np.asarray(value))]


def _compare_nested(
    actual: Any, expected: Any, *, rtol: float, atol: float, file: str, name: str
) -> str:
    """Compare sequences/maps: same structure and keys, then every value as :func:`_compare`."""
    import numpy as np

    got, want = _leaves(actual), _leaves(expected)
    got_paths, want_paths = [p for p, _ in got], [p for p, _ in want]
    if got_paths != want_paths:
        first = next(
            (i for i, (a, b) in enumerate(zip(got_paths, want_paths, strict=False)) if a != b),
            min(len(got_paths), len(want_paths)),
        )
        where = want_paths[first] if first < len(want_paths) else got_paths[first]
        return (
            f"{file}: `{name}` differs in structure ({len(got_paths)} values, expected "
            f"{len(want_paths)}); first difference at {where}"
        )
    if not want:
        return ""
    for (path, a), (_, e) in zip(got, want, strict=True):
        if a.shape != e.shape:
            return f"{file}: `{name}{path}` has shape {list(a.shape)}, expected {list(e.shape)}"
    flat_e = np.concatenate([e.ravel() for _, e in want])
    flat_a = np.concatenate([a.ravel() for _, a in got])
    if np.issubdtype(flat_e.dtype, np.floating) and np.issubdtype(flat_a.dtype, np.floating):
        flat_a = flat_a.astype(flat_e.dtype)
    problem = _compare(flat_a, flat_e, rtol=rtol, atol=atol, file=file, name=name)
    if not problem:
        return ""
    # Name the value by its place in the structure rather than its flat index.
    sizes = np.cumsum([e.size for _, e in want])
    flat_index = int(problem.rsplit("at [", 1)[1].split("]", 1)[0]) if "at [" in problem else 0
    leaf = int(np.searchsorted(sizes, flat_index, side="right"))
    return problem.replace(f"at [{flat_index}]", f"at {want[leaf][0] or '[]'}", 1)


def run_sets(
    model_path: Path, version_dir: Path, sets: list[dict[str, Any]], session: Any = None
) -> dict[str, Any]:
    """Load a session (or use ``session``) and run every set; never raises for bad data.

    Each set's problems are ``(kind, message)`` with kind ``malformed`` (the set itself is
    wrong) or ``mismatch`` (the model computes something else).
    """
    import numpy as np

    if session is None:
        try:
            session = cpu_session(model_path)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            return {"session_error": first_line(exc)}
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    results = []
    tree = Tree(version_dir)
    for spec in sets:
        problems: list[tuple[str, str]] = []
        directory = version_dir / spec["path"]
        rtol = float(spec.get("rtol", 1e-5))
        atol = float(spec.get("atol", 1e-6))
        try:
            feeds_files, expected_files = _set_files(tree, directory)
            if len(feeds_files) != len(inputs):
                raise ValueError(f"{len(feeds_files)} input files for {len(inputs)} model inputs")
            if not expected_files:
                raise ValueError("no output_K.pb files")
            feeds = {}
            for k, (file, arg) in enumerate(zip(feeds_files, inputs, strict=True)):
                array = _load(tree, file)
                want = _ORT_TYPES.get(arg.type)
                if want is not None and str(array.dtype) != want:
                    message = f"input_{k}.pb has dtype {array.dtype}; `{arg.name}` takes {arg.type}"
                    problems.append(("malformed", message))
                feeds[arg.name] = array
            if problems:
                results.append({"path": spec["path"], "problems": problems})
                continue
            try:
                actual = session.run(None, feeds)
            except Exception as exc:  # noqa: BLE001 - onnxruntime's run errors are untyped
                raise ValueError(f"the session failed on these inputs: {exc}") from None
            if len(expected_files) > len(outputs):
                raise ValueError(f"{len(expected_files)} output files for {len(outputs)} outputs")
            for k, file in enumerate(expected_files):
                expected = _load(tree, file, outputs[k].type)
                compare = _compare if outputs[k].type.startswith("tensor") else _compare_nested
                problem = compare(
                    np.asarray(actual[k]) if compare is _compare else actual[k],
                    expected,
                    rtol=rtol,
                    atol=atol,
                    file=f"output_{k}.pb",
                    name=outputs[k].name,
                )
                if problem:
                    problems.append(("mismatch", problem))
        except Refused as exc:
            problems.append(("malformed", f"not read: {exc}"))
        except (ValueError, OSError) as exc:
            problems.append(("malformed", str(exc)))
        results.append({"path": spec["path"], "problems": problems})
    return {
        "session": {
            "inputs": [i.name for i in inputs],
            "outputs": [o.name for o in outputs],
        },
        "sets": results,
    }


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (onnxruntime's can run to pages).

    Up to 1,000 characters: onnxruntime puts its C++ source location and function signature
    before the reason, so a load error's reason (``... Current official support for domain
    ai.onnx is till opset 28.``) ends past character 700 when the path is long.
    """
    text = str(exc).strip()
    return text.splitlines()[0][:1000] if text else repr(exc)


def _compare(actual: Any, expected: Any, *, rtol: float, atol: float, file: str, name: str) -> str:
    import numpy as np

    if actual.shape != expected.shape:
        return f"{file}: `{name}` has shape {list(actual.shape)}, expected {list(expected.shape)}"
    if actual.dtype != expected.dtype:
        return f"{file}: `{name}` has dtype {actual.dtype}, expected {expected.dtype}"
    if actual.size == 0:
        return ""
    if np.issubdtype(expected.dtype, np.floating):
        a = actual.astype(np.float64)
        e = expected.astype(np.float64)
        excess = np.abs(a - e) - (atol + rtol * np.abs(e))
        excess = np.where(np.isnan(a) != np.isnan(e), np.inf, np.nan_to_num(excess, nan=-1.0))
        worst = int(np.argmax(excess))
        if excess.flat[worst] <= 0:
            return ""
        index = tuple(int(i) for i in np.unravel_index(worst, expected.shape))
        bad = int(np.count_nonzero(excess > 0))
        return (
            f"{file}: `{name}` differs beyond rtol={rtol:g}, atol={atol:g} in {bad} of "
            f"{expected.size} elements; worst at {list(index)}: got {float(a.flat[worst])!r}, "
            f"expected {float(e.flat[worst])!r}"
        )
    unequal = np.flatnonzero(actual.ravel() != expected.ravel())
    if unequal.size == 0:
        return ""
    first = int(unequal[0])
    index = tuple(int(i) for i in np.unravel_index(first, expected.shape))
    got = actual.ravel()[first : first + 1].tolist()[0]  # tolist: plain Python values
    want = expected.ravel()[first : first + 1].tolist()[0]
    return (
        f"{file}: `{name}` differs in {unequal.size} of {expected.size} elements (exact "
        f"comparison); first at {list(index)}: got {got!r}, expected {want!r}"
    )


def write_sets(
    model_path: Path, data_path: Path, out_dir: Path, rows: int, session: Any = None
) -> dict[str, Any]:
    """Golden vectors from the first ``rows`` rows of the evaluation file (one set).

    Writes ``out_dir/test_data_set_0/input_K.pb`` (positional, in the session's input order)
    and ``output_K.pb`` with what onnxruntime computes now. ``session`` reuses an open
    session on ``model_path``.
    """
    import numpy as np
    from onnx import numpy_helper

    with data_path.open("rb") as fh:
        # The file the user named (it may be a link of theirs); its size is still bounded.
        if problems := npz_problems(fh):
            raise ValueError(f"{data_path.name} refused before loading: {'; '.join(problems)}")
    archive = np.load(data_path, allow_pickle=False)
    session = session or cpu_session(model_path)
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in names if n not in archive.files]
    if missing:
        raise ValueError(f"{data_path.name} lacks arrays {missing} for golden vectors")
    feeds = {n: archive[n][:rows] for n in names}
    outputs = session.run(None, feeds)
    directory = out_dir / "test_data_set_0"
    directory.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        tensor = numpy_helper.from_array(np.ascontiguousarray(feeds[name]), name)
        (directory / f"input_{k}.pb").write_bytes(tensor.SerializeToString())
    for k, (out, value) in enumerate(zip(session.get_outputs(), outputs, strict=True)):
        proto = _to_proto(value, out.type, out.name)
        (directory / f"output_{k}.pb").write_bytes(proto.SerializeToString())
    return {"path": "test_data_set_0", "rows": len(next(iter(feeds.values())))}
