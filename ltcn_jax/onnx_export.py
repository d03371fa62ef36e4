"""``ltcn export --format onnx``: the L-TCN as an ONNX graph (built with the ``onnx`` helper API).

Graph (opset 17), input ``x f32[N, T, F]`` (N and T dynamic)::

    Transpose -> [N, F, T]
    per block: (Conv(k, dilation d, pads=[d*(k-1), 0]) -> Relu) x J,
               residual Conv 1x1 (or the block input), Add, Relu
    head: Conv 1x1 -> [N, classes, T] -> Transpose -> logits_seq [N, T, classes]
    Gather(t = -1, axis 1) -> logits [N, classes];  Softmax -> proba [N, classes]

The causal left padding is the Conv's own ``pads`` attribute (no Pad node), so the graph is
exactly the Flax model (``return_sequence=True`` for ``logits_seq``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ltcn_kernels.arch import CONV, IDENTITY, RESIDUAL, Layer, LTCNArch, block_name

OPSET = 17


def build_onnx(flat: Mapping[str, np.ndarray], arch: LTCNArch):
    """An ``onnx.ModelProto`` of the L-TCN ``arch`` with the given flat Flax params."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    arch.check_params(flat)
    nodes, inits = [], []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        return name

    def conv(layer: Layer, x: str) -> str:
        kernel = np.asarray(flat[layer.kernel_path], np.float32)
        if kernel.ndim == 2:  # the head's Dense kernel as a 1x1 conv: (1, C, classes)
            kernel = kernel[None]
        w = init(f"{layer.name}/W", np.transpose(kernel, (2, 1, 0)))  # (k, in, out) -> (out, in, k)
        b = init(f"{layer.name}/B", np.asarray(flat[layer.bias_path]))
        nodes.append(helper.make_node(
            "Conv", [x, w, b], [layer.name], name=layer.name, kernel_shape=[layer.k],
            dilations=[layer.dilation], pads=[layer.pad, 0], strides=[1],
        ))
        return layer.name

    nodes.append(helper.make_node("Transpose", ["x"], ["x_nft"], perm=[0, 2, 1]))
    h = block_in = "x_nft"
    for layer in arch.layers:
        if layer.role == CONV:
            relu = f"{layer.name}/relu"
            nodes.append(helper.make_node("Relu", [conv(layer, h)], [relu]))
            h = relu
        elif layer.role in (RESIDUAL, IDENTITY):
            res = conv(layer, block_in) if layer.role == RESIDUAL else block_in
            block = block_name(layer.block)
            nodes.append(helper.make_node("Add", [h, res], [f"{block}/add"]))
            nodes.append(helper.make_node("Relu", [f"{block}/add"], [f"{block}/out"]))
            h = block_in = f"{block}/out"
        else:
            conv(layer, h)
    nodes.append(helper.make_node("Transpose", [arch.head.name], ["logits_seq"], perm=[0, 2, 1]))
    inits.append(numpy_helper.from_array(np.array(-1, np.int64), "last"))
    nodes.append(helper.make_node("Gather", ["logits_seq", "last"], ["logits"], axis=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["proba"], axis=-1))
    F, classes = arch.n_features, arch.num_classes
    graph = helper.make_graph(
        nodes, "ltcn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", F])],
        [helper.make_tensor_value_info("logits_seq", TensorProto.FLOAT, ["N", "T", classes]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
         helper.make_tensor_value_info("proba", TensorProto.FLOAT, ["N", classes])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ltcn")
    model.ir_version = min(model.ir_version, 9)  # readable by older onnxruntime builds
    onnx.checker.check_model(model)
    return model


def export_onnx(artifact_or_path, out) -> dict:
    """Write the ONNX graph of a ``.ltcn`` model (or a run folder's checkpoint, via
    :func:`ltcn_jax.export.export_run` first) to ``out``."""
    import onnx

    from ltcn_kernels.engine.artifact import Artifact, dense_params, read_artifact

    art = artifact_or_path if isinstance(artifact_or_path, Artifact) else read_artifact(artifact_or_path)
    model = build_onnx(dense_params(art), art.arch)
    onnx.save(model, str(out))
    import os

    return {"file": str(out), "file_bytes": os.path.getsize(out)}
