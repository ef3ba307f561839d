"""torch.onnx.export as the build scripts use it: a two-input classifier, reproducible bytes.

Shared by ``scripts/build_example_models.py`` (the committed example models) and
``scripts/build_bert_base.py`` (the BERT-base-shaped benchmark model): the torch.export-based
exporter with dynamic ``batch`` and ``sequence`` axes on ``input_ids`` and ``attention_mask``,
one ``logits`` output, and the exporter's debug metadata stripped so the bytes do not depend
on the machine or the checkout. Each script then names the graph and adds its own metadata.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import onnx
import torch
from torch import Tensor, nn


def strip_debug_metadata(graph: onnx.GraphProto) -> None:
    """Drop the exporter's per-node and per-value debug metadata, recursively.

    The torch.export-based exporter records an ``fx_node``, a ``stack_trace`` (with absolute
    paths of this machine's source files), a ``namespace`` and more on every node and value:
    they say nothing about the model and make the file differ between machines and checkouts.
    """
    del graph.metadata_props[:]
    for values in (graph.input, graph.output, graph.value_info, graph.initializer):
        for value in values:
            del value.metadata_props[:]
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attr in node.attribute:
            if attr.HasField("g"):
                strip_debug_metadata(attr.g)
            for sub in attr.graphs:
                strip_debug_metadata(sub)


def export_classifier(
    model: nn.Module, example: tuple[Tensor, Tensor], *, max_len: int, opset: int
) -> onnx.ModelProto:
    """``model(input_ids, attention_mask) -> logits`` as an ONNX proto (weights inside), with
    dynamic ``batch`` and ``sequence`` (at most ``max_len``) axes and no debug metadata; the
    caller sets the graph name, doc string and metadata properties."""
    batch = torch.export.Dim("batch", min=1)
    sequence = torch.export.Dim("sequence", min=1, max=max_len)
    dims = {0: batch, 1: sequence}
    # The exporter prints progress to stdout, warns about deprecated pytree APIs and logs
    # that torchvision's operators are unavailable: none of it concerns these models.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            example,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes={"input_ids": dims, "attention_mask": dims},
            external_data=False,
            optimize=True,
            verbose=False,
        )
    if program is None:  # only the legacy exporter returns None
        raise RuntimeError("torch.onnx.export returned no program")
    proto: onnx.ModelProto = program.model_proto
    strip_debug_metadata(proto.graph)
    for func in proto.functions:
        del func.metadata_props[:]
    del proto.metadata_props[:]
    return proto
