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

from collections.abc import Mapping, Sequence

import numpy as np

OPSET = 17


def build_onnx(
    flat: Mapping[str, np.ndarray], *, dilations: Sequence[int], kernel_size: int,
    convs_per_block: int,
):
    """An ``onnx.ModelProto`` of the L-TCN with the given flat Flax params."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        return name

    def conv(name: str, x: str, kernel: np.ndarray, bias: np.ndarray, d: int) -> str:
        k = kernel.shape[0]
        w = init(f"{name}/W", np.transpose(kernel, (2, 1, 0)))  # (k, in, out) -> (out, in, k)
        b = init(f"{name}/B", bias)
        nodes.append(helper.make_node(
            "Conv", [x, w, b], [name], name=name, kernel_shape=[k], dilations=[d],
            pads=[d * (k - 1), 0], strides=[1],
        ))  # fmt: skip
        return name

    nodes.append(helper.make_node("Transpose", ["x"], ["x_nft"], perm=[0, 2, 1]))
    h = "x_nft"
    for i, d in enumerate(dilations):
        block_in = h
        for j in range(convs_per_block):
            p = f"block_{i}/conv_{j}"
            c = conv(p, h, np.asarray(flat[f"{p}/kernel"]), np.asarray(flat[f"{p}/bias"]), int(d))
            nodes.append(helper.make_node("Relu", [c], [f"{p}/relu"]))
            h = f"{p}/relu"
        if f"block_{i}/residual/kernel" in flat:
            res = conv(f"block_{i}/residual", block_in, np.asarray(flat[f"block_{i}/residual/kernel"]),
                       np.asarray(flat[f"block_{i}/residual/bias"]), 1)
        else:
            res = block_in
        nodes.append(helper.make_node("Add", [h, res], [f"block_{i}/add"]))
        nodes.append(helper.make_node("Relu", [f"block_{i}/add"], [f"block_{i}/out"]))
        h = f"block_{i}/out"
    head_w = np.asarray(flat["head/kernel"], np.float32)[None]  # (1, C, classes)
    conv("head", h, head_w, np.asarray(flat["head/bias"]), 1)
    nodes.append(helper.make_node("Transpose", ["head"], ["logits_seq"], perm=[0, 2, 1]))
    inits.append(numpy_helper.from_array(np.array(-1, np.int64), "last"))
    nodes.append(helper.make_node("Gather", ["logits_seq", "last"], ["logits"], axis=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["proba"], axis=-1))
    F = int(np.asarray(flat["block_0/conv_0/kernel"]).shape[1])
    classes = int(head_w.shape[2])
    graph = helper.make_graph(
        nodes, "ltcn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", F])],
        [helper.make_tensor_value_info("logits_seq", TensorProto.FLOAT, ["N", "T", classes]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
         helper.make_tensor_value_info("proba", TensorProto.FLOAT, ["N", classes])],
        initializer=inits,
    )  # fmt: skip
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
    arch = art.manifest["architecture"]
    model = build_onnx(dense_params(art), dilations=arch["dilations"],
                       kernel_size=arch["kernel_size"], convs_per_block=arch["convs_per_block"])
    onnx.save(model, str(out))
    import os

    return {"file": str(out), "file_bytes": os.path.getsize(out)}
