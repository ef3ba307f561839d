"""The facts of an ONNX file, in the shape of metadata.yaml's ``artifact`` and ``onnx`` blocks.

:func:`inspect_file` is the one reader of ONNX signatures: ``modelreg inspect`` prints its
result for pasting into metadata.yaml, and the checks compare metadata against the same
dictionary, so what a user pastes is exactly what is later verified.

onnx is imported lazily (only here, only when a file is inspected); onnxruntime never is.
External data is never loaded: its files are hashed as files, after :mod:`modelreg.onnx.external`
has judged every reference safe (relative, inside the directory, no links, in range).
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypedDict

import yaml

from modelreg.errors import ModelregError
from modelreg.hashing import sha256_file
from modelreg.onnx import external
from modelreg.types import Artifact, FileEntry

if TYPE_CHECKING:
    from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto

#: How the default operator domain ``""`` is written in metadata (``ai.onnx`` is its alias).
DEFAULT_DOMAIN = "ai.onnx"

#: Top-level keys of the facts that are metadata.yaml blocks; other keys are for review only.
METADATA_BLOCKS = ("artifact", "onnx")

_INSTALL_HINT = "inspect needs onnx: pip install 'modelreg[onnx]'"


class Inspected(TypedDict):
    """What :func:`inspect_file` found in an ONNX file."""

    artifact: Artifact
    #: The metadata's ``onnx`` block as the file declares it; not typed as
    #: :class:`~modelreg.types.OnnxBlock`: an undeclared type is None and sparse or opaque
    #: types have keys the schema does not know (validation reports them).
    onnx: dict[str, Any]
    #: Node count by ``"<domain>::<OpType>"``.
    ops: dict[str, int]


def inspect_file(path: Path, *, hash_files: bool = True) -> Inspected:
    """The facts of the ONNX file at ``path``.

    Returns ``{"artifact": ..., "onnx": ..., "ops": ...}``: ``artifact`` and ``onnx`` follow
    the metadata schema's ``$defs/artifact`` and ``$defs/onnx`` (``artifact.path`` is the
    file name; ``external_data`` is present only when the model references external data);
    ``ops`` counts every node by ``"<domain>::<OpType>"``, including nodes in subgraphs
    (If/Loop/Scan bodies) and in local functions, sorted by key.

    Raises :class:`ModelregError` when onnx is not installed, the file is missing or is not
    an ONNX protobuf, or an external data location is absolute, contains ``..``, resolves
    outside the model's directory, or names a missing file. ``hash_files=False`` leaves
    ``sha256`` empty, for callers that hashed the files already.
    """
    try:
        import onnx  # noqa: F401 - fail early, with the install hint, when onnx is absent
    except ImportError as exc:
        raise ModelregError(_INSTALL_HINT) from exc

    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ModelregError(f"{path}: {what}; give the path of an .onnx file")
    model = _load(path)
    sha256, size = sha256_file(path) if hash_files else ("", path.stat().st_size)
    artifact: Artifact = {"path": path.name, "sha256": sha256, "size": size}
    external_files = _external_data(model, path, hash_files=hash_files)
    if external_files:
        artifact["external_data"] = external_files

    graph = model.graph
    hidden = {t.name for t in graph.initializer}
    hidden.update(s.values.name for s in graph.sparse_initializer)
    facts: Inspected = {
        "artifact": artifact,
        "onnx": {
            "ir_version": int(model.ir_version),
            "opsets": _opsets(model, path),
            "producer": {"name": model.producer_name, "version": model.producer_version},
            "inputs": [_io(v.name, v) for v in graph.input if v.name not in hidden],
            "outputs": [_io(v.name, v) for v in graph.output],
        },
        "ops": _ops(model),
    }
    return facts


def _load(path: Path) -> ModelProto:
    import onnx

    # onnx reports a corrupt protobuf as google.protobuf.message.DecodeError (an Error).
    # protobuf ships no type information, hence the import by name.
    protobuf_error: type[Exception] = importlib.import_module("google.protobuf.message").Error
    model = _load_skeleton(path, protobuf_error)
    try:
        if model is None:
            model = onnx.load(path, format="protobuf", load_external_data=False)
    except protobuf_error as exc:
        raise ModelregError(
            f"{path}: not a valid ONNX file (the protobuf does not parse: {exc}); "
            "is it truncated, or a Git LFS pointer that was never pulled (git lfs pull)?"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelregError(f"{path}: cannot read the ONNX file: {exc}") from exc
    # Protobuf parses an empty or cut-off-at-a-field-boundary file without complaint.
    missing = [
        what
        for what, present in (
            ("an IR version", model.ir_version > 0),
            ("a graph", model.HasField("graph")),
            ("an opset import", len(model.opset_import) > 0),
        )
        if not present
    ]
    if missing:
        raise ModelregError(
            f"{path}: not a valid ONNX file: it has no {', no '.join(missing)} "
            "(empty or truncated file?)"
        )
    return model


def _load_skeleton(path: Path, protobuf_error: type[Exception]) -> ModelProto | None:
    """The model without its weights (see :mod:`modelreg.onnx.skeleton`); None when the quick
    walk fails, so that the full parse reports what is wrong with the file."""
    import onnx

    from modelreg.onnx.skeleton import SkimError, skeleton

    try:
        model: ModelProto = onnx.ModelProto.FromString(skeleton(path))
    except (SkimError, OSError, ValueError, protobuf_error):
        return None
    return model


# -- external data ---------------------------------------------------------------------------


def _external_data(model: ModelProto, path: Path, *, hash_files: bool) -> list[FileEntry]:
    """Every external data file referenced by any tensor, judged safe first, hashed once."""
    refs = external.references(model)
    if found := external.problems(path, refs, external.Limits.of()):
        raise external.UnsafeExternalData(path, found)
    files: dict[str, FileEntry] = {}
    for ref in refs:
        assert ref.location is not None  # problems() refuses a missing location
        rel = PurePosixPath(ref.location).as_posix()
        if rel not in files:
            target = path.parent / rel
            sha256, size = sha256_file(target) if hash_files else ("", target.stat().st_size)
            files[rel] = {"path": rel, "sha256": sha256, "size": size}
    return [files[k] for k in sorted(files)]


# -- walking the model -----------------------------------------------------------------------


def _subgraphs(attribute: AttributeProto) -> Iterator[GraphProto]:
    if attribute.HasField("g"):
        yield attribute.g
    yield from attribute.graphs


def _node_lists(model: ModelProto) -> Iterator[tuple[GraphProto | None, Sequence[NodeProto]]]:
    """Every graph (main, subgraphs) and function body, as ``(graph or None, nodes)``."""
    pending: list[tuple[GraphProto | None, Sequence[NodeProto]]] = [(model.graph, model.graph.node)]
    pending.extend((None, f.node) for f in model.functions)
    while pending:
        graph, nodes = pending.pop()
        yield graph, nodes
        for node in nodes:
            for attribute in node.attribute:
                pending.extend((g, g.node) for g in _subgraphs(attribute))


def tensors(model: ModelProto) -> Iterator[TensorProto]:
    """Every tensor that may hold data: initializers and tensor attributes, everywhere."""
    for graph, nodes in _node_lists(model):
        if graph is not None:
            yield from graph.initializer
            for sparse in graph.sparse_initializer:
                yield sparse.values
                yield sparse.indices
        for node in nodes:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                sparse_attributes = list(attribute.sparse_tensors)
                if attribute.HasField("sparse_tensor"):
                    sparse_attributes.append(attribute.sparse_tensor)
                for sparse in sparse_attributes:
                    yield sparse.values
                    yield sparse.indices


def _ops(model: ModelProto) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for _, nodes in _node_lists(model):
        counts.update(f"{node.domain or DEFAULT_DOMAIN}::{node.op_type}" for node in nodes)
    return dict(sorted(counts.items()))


def _opsets(model: ModelProto, path: Path) -> dict[str, int]:
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        domain = entry.domain or DEFAULT_DOMAIN
        version = int(entry.version)
        if opsets.get(domain, version) != version:
            raise ModelregError(
                f"{path}: imports domain {domain} twice, as opset {opsets[domain]} and "
                f"{version} (the empty domain is `ai.onnx`); re-export the model"
            )
        opsets[domain] = version
    first = {DEFAULT_DOMAIN: opsets.pop(DEFAULT_DOMAIN)} if DEFAULT_DOMAIN in opsets else {}
    return first | dict(sorted(opsets.items()))


# -- types -----------------------------------------------------------------------------------


def elem_type_name(elem_type: int) -> str:
    """The metadata name of an ONNX element type: ``TensorProto.FLOAT`` -> ``"float"``."""
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(elem_type)).lower()
    except ValueError:
        return f"unknown-{elem_type}"


def _io(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "type": value_type(value.type) if value.HasField("type") else None}


def _shape(tensor_type: Any) -> dict[str, Any]:
    if not tensor_type.HasField("shape"):
        return {}  # unknown rank
    dims: list[int | str | None] = []
    for dim in tensor_type.shape.dim:
        kind = dim.WhichOneof("value")
        if kind == "dim_value":
            dims.append(int(dim.dim_value))
        elif kind == "dim_param" and dim.dim_param:
            dims.append(str(dim.dim_param))
        else:
            dims.append(None)
    return {"shape": dims}


def value_type(tp: TypeProto) -> dict[str, Any] | None:
    """A TypeProto as the schema's ``$defs/value_type``; None when no type is declared.

    Tensors are ``{"tensor": elem, "shape": [...]}`` (no ``shape`` for an unknown rank);
    sequence, map and optional nest. Sparse tensors and opaque types, which the schema does
    not describe, are written ``{"sparse_tensor": elem, "shape": ...}`` and
    ``{"opaque": "domain::name"}`` so that they are reported rather than hidden.
    """
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        return {"tensor": elem_type_name(tp.tensor_type.elem_type), **_shape(tp.tensor_type)}
    if kind == "sequence_type":
        return {"sequence": _nested(tp.sequence_type, "elem_type")}
    if kind == "map_type":
        return {
            "map": {
                "key": elem_type_name(tp.map_type.key_type),
                "value": _nested(tp.map_type, "value_type"),
            }
        }
    if kind == "optional_type":
        return {"optional": _nested(tp.optional_type, "elem_type")}
    if kind == "sparse_tensor_type":
        sparse = tp.sparse_tensor_type
        return {"sparse_tensor": elem_type_name(sparse.elem_type), **_shape(sparse)}
    if kind == "opaque_type":
        return {"opaque": f"{tp.opaque_type.domain}::{tp.opaque_type.name}"}
    return None


def _nested(container: Any, field: str) -> dict[str, Any] | None:
    return value_type(getattr(container, field)) if container.HasField(field) else None


# -- output ----------------------------------------------------------------------------------


class _FlowList(list[Any]):
    """A list written in flow style: ``shape: [batch, 2]``."""


class _Dumper(yaml.SafeDumper):
    """Safe dumping, with block sequences indented under their key like the examples."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_flow(dumper: _Dumper, data: _FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_FlowList, _represent_flow)


def _flow_shapes(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _FlowList(v) if k == "shape" and isinstance(v, list) else _flow_shapes(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_flow_shapes(v) for v in value]
    return value


def dump_yaml(data: dict[str, Any]) -> str:
    """Metadata-style YAML: key order kept, shapes in flow style, coercible strings quoted."""
    return yaml.dump(
        _flow_shapes(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )


def facts_to_yaml(facts: Mapping[str, Any]) -> str:
    """The facts as YAML ready to paste into metadata.yaml.

    The metadata blocks (``artifact``, ``onnx``) are written as data, in order, with shapes
    in flow style; every other key (the ``ops`` inventory) follows as a commented-out block,
    so the whole text can be appended to metadata.yaml and still validate. Strings that YAML
    would read as another type (``"2.0"``, ``"yes"``) are quoted.
    """
    blocks = {k: v for k, v in facts.items() if k in METADATA_BLOCKS}
    extra = {k: v for k, v in facts.items() if k not in METADATA_BLOCKS}
    text = dump_yaml(blocks) if blocks else ""
    if extra:
        commented = "".join(f"# {line}".rstrip() + "\n" for line in dump_yaml(extra).splitlines())
        text += "# For review only, not metadata fields:\n" + commented
    return text


def facts_to_json(facts: Mapping[str, Any]) -> str:
    """The facts as indented JSON (every key, ``ops`` included), ending in a newline."""
    return json.dumps(facts, indent=2, ensure_ascii=False) + "\n"
