"""The registry's documents as types: model.yaml (the model card) and metadata.yaml.

Each TypedDict mirrors one object of ``schemas/model.schema.json`` or
``schemas/metadata.schema.json`` key for key (tests/test_types.py walks both so they cannot
drift): a required property is a required key, an optional one is ``NotRequired``, an
``enum`` is a ``Literal``. The members of a ``oneOf`` are ``@final`` (the schemas close every
object), so ``"tensor" in value`` narrows a :data:`ValueType` for mypy.

These types describe a document that passed its schema, and nothing else. A freshly parsed
YAML file is ``dict[str, Any]`` (checks that run before or without schema validation read
it as such); :func:`valid_card` and :func:`valid_metadata` are the one place where a
document that passed its schema becomes its type.
"""

# ruff: noqa: I002 - no ``from __future__ import annotations`` in this module: with string
# annotations Python 3.11 cannot see ``NotRequired`` at class creation, so ``__required_keys__``
# would list every key and mislead the schema test (and any runtime reader of the types).
from typing import Any, Literal, NotRequired, TypedDict, cast, final

# -- model.yaml -------------------------------------------------------------------------------

Status = Literal["candidate", "production", "supported", "deprecated", "retired"]
Task = Literal[
    "text-classification",
    "token-classification",
    "image-classification",
    "object-detection",
    "tabular-classification",
    "tabular-regression",
    "embedding",
    "other",
]


class LifecycleEntry(TypedDict):
    """Where one version stands (``lifecycle.<version>``)."""

    status: Status
    supported_until: NotRequired[str]
    note: NotRequired[str]


class Gates(TypedDict, total=False):
    """Promotion gates (``gates:``); every one is optional."""

    min_accuracy: float
    min_f1: float
    max_accuracy_drop: float
    max_f1_drop: float
    min_r2: float
    max_mae: float
    max_rmse: float
    max_r2_drop: float
    max_rmse_increase: float
    p99_latency_budget_ms: float
    max_p99_regression: float
    compatible_signature: bool
    p99_tolerance: float
    p99_tolerance_ms: float


#: model.yaml. Functional syntax: ``$schema`` is not an identifier.
ModelCard = TypedDict(
    "ModelCard",
    {
        "$schema": NotRequired[str],
        "name": str,
        "title": str,
        "description": str,
        "task": Task,
        "tag_prefix": str,
        "tag_format": NotRequired[Literal["prefix", "gto"]],
        "owners": list[str],
        "labels": list[str],
        "lifecycle": dict[str, LifecycleEntry],
        "gates": NotRequired[Gates],
        "support_grace_days": NotRequired[int],
    },
)

# -- metadata.yaml ----------------------------------------------------------------------------

ElemType = Literal[
    "float",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "int32",
    "int64",
    "string",
    "bool",
    "float16",
    "double",
    "uint32",
    "uint64",
    "complex64",
    "complex128",
    "bfloat16",
    "float8e4m3fn",
    "float8e4m3fnuz",
    "float8e5m2",
    "float8e5m2fnuz",
    "uint4",
    "int4",
    "float4e2m1",
]
#: One dimension: a fixed size, a symbolic name, or unknown.
Dim = int | str | None


class FileEntry(TypedDict):
    """A file with its hash and size (``artifact.external_data[]``)."""

    path: str
    sha256: str
    size: int


class Artifact(TypedDict):
    """The ONNX file and its external data (``artifact``)."""

    path: str
    sha256: str
    size: int
    external_data: NotRequired[list[FileEntry]]
    storage_uri: NotRequired[str]


@final
class TensorType(TypedDict):
    """A tensor value type."""

    tensor: ElemType
    shape: NotRequired[list[Dim]]


@final
class SequenceType(TypedDict):
    """A sequence value type."""

    sequence: "ValueType"


class MapBody(TypedDict):
    """Key and value types of a map."""

    key: ElemType
    value: "ValueType"


@final
class MapType(TypedDict):
    """A map value type."""

    map: MapBody


@final
class OptionalType(TypedDict):
    """An optional value type."""

    optional: "ValueType"


#: The type of a graph input or output (the schema's ``oneOf``, in its order).
ValueType = TensorType | SequenceType | MapType | OptionalType


class GraphIO(TypedDict):
    """One graph input or output (``onnx.inputs[]``, ``onnx.outputs[]``)."""

    name: str
    type: ValueType


class Producer(TypedDict):
    """The tool that wrote the ONNX file."""

    name: str
    version: str


class OnnxBlock(TypedDict):
    """What the ONNX file declares (``onnx``)."""

    ir_version: int
    opsets: dict[str, int]
    producer: Producer
    inputs: list[GraphIO]
    outputs: list[GraphIO]


class Dataset(TypedDict):
    """The training data set (``training.dataset``)."""

    name: str
    version: str
    samples: int
    sha256: NotRequired[str]
    description: NotRequired[str]


class Training(TypedDict):
    """What the version was trained on (``training``)."""

    dataset: Dataset


class LatencySession(TypedDict, total=False):
    """Session options of a latency measurement."""

    intra_op_threads: int
    inter_op_threads: int
    graph_optimization: Literal["disabled", "basic", "extended", "all"]


class MachineFingerprint(TypedDict):
    """Where a latency figure was measured (``evaluation.latency.environment``)."""

    fingerprint: str
    cpu: str
    cpu_flags: NotRequired[list[str]]
    cores: NotRequired[int]
    onnxruntime: str
    python: NotRequired[str]
    platform: NotRequired[str]


class LatencyClaim(TypedDict):
    """Latency measured by ``modelreg bench`` (``evaluation.latency``)."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: NotRequired[float]
    runs: int
    warmup: int
    batch_size: int
    input_shapes: NotRequired[dict[str, list[int]]]
    session: NotRequired[LatencySession]
    environment: MachineFingerprint
    measured_at: NotRequired[str]


class EvaluationData(TypedDict):
    """The evaluation set (``evaluation.data``)."""

    path: str
    sha256: str
    samples: int


class F1(TypedDict):
    """F1 with its averaging mode."""

    value: float
    average: Literal["binary", "macro", "micro", "weighted"]
    positive_label: NotRequired[str]


@final
class ClassificationMetrics(TypedDict):
    """A classifier's metrics."""

    accuracy: float
    f1: F1


@final
class RegressionMetrics(TypedDict):
    """A regressor's metrics."""

    mae: float
    rmse: float
    r2: float


class Evaluation(TypedDict):
    """Evaluation data and measured metrics (``evaluation``)."""

    data: EvaluationData
    output: str
    metrics: ClassificationMetrics | RegressionMetrics
    latency: NotRequired[LatencyClaim]


class VectorSet(TypedDict):
    """One golden test-vector set (``test_vectors[]``)."""

    path: str
    rtol: NotRequired[float]
    atol: NotRequired[float]


class Resources(TypedDict, total=False):
    """CPU and memory quantities."""

    cpu: str
    memory: str


class ContainerResources(TypedDict, total=False):
    """Container requests and limits."""

    requests: Resources
    limits: Resources


class Deployment(TypedDict, total=False):
    """How the version is served (``deployment``)."""

    replicas: int
    max_batch_size: int
    resources: ContainerResources
    config: str


#: metadata.yaml. Functional syntax: ``$schema`` is not an identifier.
VersionMetadata = TypedDict(
    "VersionMetadata",
    {
        "$schema": NotRequired[str],
        "model": str,
        "version": str,
        "release_date": str,
        "summary": str,
        "changes": list[str],
        "migration": NotRequired[str],
        "artifact": Artifact,
        "onnx": OnnxBlock,
        "training": Training,
        "evaluation": Evaluation,
        "test_vectors": list[VectorSet],
        "deployment": NotRequired[Deployment],
    },
)

# -- the seam ---------------------------------------------------------------------------------


def valid_card(data: dict[str, Any]) -> ModelCard:
    """``data`` as a model card. Only for a model.yaml that passed the model schema."""
    return cast(ModelCard, data)


def valid_metadata(data: dict[str, Any]) -> VersionMetadata:
    """``data`` as version metadata. Only for a metadata.yaml that passed the metadata schema."""
    return cast(VersionMetadata, data)
