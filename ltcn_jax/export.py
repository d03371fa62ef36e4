"""``ltcn export``: a trained (and pruned) run folder -> one deployable ``.ltcn`` file.

Training side: it reads Flax msgpack checkpoints. The file it writes (schema 2: the engine's
packed arrays, each weight once) is read on the edge by ``ltcn_kernels.engine.artifact`` with
numpy alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ltcn_kernels.arch import LTCNArch, is_conv_kernel
from ltcn_kernels.engine import EngineModel, flat_params_from_tree
from ltcn_kernels.engine.artifact import engine_payload, write_artifact
from ltcn_kernels.engine.signature import Signer, key_id
from ltcn_kernels.features.preprocess import Preprocessor
from ltcn_kernels.spec import GAP_FEATURE, ModelSpec

from .signing import default_signer

FORMATS = ("csr", "dense")
ENGINE_FORMATS = {"csr": "sparse", "dense": "dense"}  # export format -> engine format stored
MODEL_FORMAT = "ltcn-model"


def _conv_sparsity(layers: list[dict]) -> float:
    """Share of zero weights over all convolution kernels (residual 1x1 included)."""
    convs = [x for x in layers if is_conv_kernel(x["name"])]
    size = sum(int(np.prod(x["shape"])) for x in convs)
    return round(1 - sum(x["nnz"] for x in convs) / max(size, 1), 6)


def packed_arrays(
    params: dict[str, np.ndarray], arch: LTCNArch | dict, fmt: str = "csr"
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What ``ltcn export`` stores (schema 2): ``(arrays, manifest entries)``, the engine's
    packed layout for ``fmt`` (``csr``: the sparse engine, every kernel as CSR, the head's
    too; ``dense``) and the manifest's ``storage``, ``engine`` and ``layers`` entries, each
    weight stored once (:func:`ltcn_kernels.engine.artifact.engine_payload`).

    Raises:
        ValueError: unknown format, params that do not fit ``arch``, non-finite weights.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    arch = arch if isinstance(arch, LTCNArch) else LTCNArch.from_dict(arch)
    engine = EngineModel.from_arch(arch, params, format=ENGINE_FORMATS[fmt])
    arrays, entries = engine_payload(engine)
    return arrays, {"storage": fmt, **entries}


def _params_file(run_dir: Path, sparsity: int | None) -> Path:
    name = "params.msgpack" if sparsity is None else f"sparsity_{sparsity}_params.msgpack"
    path = run_dir / name
    if not path.is_file():
        options = sorted(p.name for p in run_dir.glob("*params.msgpack"))
        raise FileNotFoundError(2, f"no {name} (the run has: {', '.join(options) or 'none'})", str(path))
    return path


def run_spec(config: dict, pre: Preprocessor) -> ModelSpec:
    """The model spec of a run (its ``config.json`` and preprocessing): the run's model
    kwargs name the layout (LTCNArch's defaults fill what they leave out), its data config
    how records are fed. Raises ValueError where they do not make a deployable model."""
    data = config["data"]
    sequence = data["sequence"]
    arch = LTCNArch.from_kwargs(1 if sequence == "features" else pre.width, len(pre.classes),
                                config["model"]["kwargs"])
    return ModelSpec(arch, sequence, int(data["window"]), data.get("stream_key") or "",
                     gap=GAP_FEATURE in pre.feature_names)


DEFAULT_SIGNER = "default"


def export_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    fmt: str = "csr",
    sparsity: int | None = None,
    signer: Signer | str | None = DEFAULT_SIGNER,
) -> dict[str, Any]:
    """Write the model of ``run_dir`` (an ``ltcn run`` output folder) to ``out``, signed.

    Args:
        run_dir: folder with ``config.json``, ``preprocess.json`` and the params checkpoint.
        out: the ``.ltcn`` file to write.
        fmt: ``csr`` (the sparse engine's layout: every kernel as CSR, fp32 values, smallest
            unsigned indices) or ``dense``; the file stores the engine's packed arrays, which
            the edge maps and runs without a copy.
        sparsity: for an ablation run, which pruned model (e.g. 60 -> ``sparsity_60_params``).
        signer: what signs the file (a :class:`~ltcn_jax.signing.SigningKey`); ``"default"``:
            the user's default key (:func:`~ltcn_jax.signing.default_signer`, created and
            trusted on first use); None: unsigned (``ltcn detect`` then refuses it unless
            told ``--allow-unsigned``).

    Returns:
        A summary: file bytes, dense-equivalent bytes, stored bytes, per-layer sparsity and the
        signing key's id (None when unsigned).
    """
    from flax.serialization import msgpack_restore

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    if config["model"]["kind"] != "ltcn":
        raise ValueError(f"{run_dir}: only L-TCN runs can be exported (this is {config['model']['kind']})")
    pre = Preprocessor.from_json((run_dir / "preprocess.json").read_text(), str(run_dir / "preprocess.json"))
    params = flat_params_from_tree(msgpack_restore(_params_file(run_dir, sparsity).read_bytes()))
    spec = run_spec(config, pre)
    arch = spec.arch
    arch.check_params(params)
    arrays, entries = packed_arrays(params, arch, fmt)
    layers = entries["layers"]
    dense_bytes = sum(int(v.nbytes) for v in params.values())
    stored = sum(x["bytes"] for x in layers)  # = the engine model's nbytes
    metrics_path = run_dir / "metrics.json"
    source_metrics = {}
    if metrics_path.is_file():
        m = json.loads(metrics_path.read_text())
        source_metrics = {k: m["test"][k] for k in ("accuracy", "balanced_accuracy", "f1_macro")}
    manifest = {
        "format": MODEL_FORMAT,
        **entries,
        "architecture": spec.to_dict(),
        "classes": list(pre.classes),
        "preprocess": pre.to_dict(),
        "sparsity": {"conv_kernels": _conv_sparsity(layers)},
        "dense_equivalent_bytes": int(dense_bytes),
        "stored_bytes": int(stored),
        "source": {"run": config["name"], "sparsity_file": sparsity, "test": source_metrics},
    }
    if signer == DEFAULT_SIGNER:
        signer = default_signer()
    size = write_artifact(out, manifest, arrays, signer=signer)
    return {"file": str(out), "file_bytes": size, "dense_equivalent_bytes": int(dense_bytes),
            "stored_bytes": int(stored), "sparsity": manifest["sparsity"]["conv_kernels"],
            "signed_by": key_id(signer.public_key) if signer is not None else None}
