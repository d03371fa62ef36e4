"""Which ``ltcn`` commands need which optional extra, and the one-line error when it is missing.

The edge install (``pip install "ltcn[edge]"``: numpy, numba) runs ``detect``, ``flows``,
``predict``/``evaluate`` with the Numba backends, ``data summary`` and ``warmup``. Training,
exporting, the JAX backend and the demo need the ``train`` extra (JAX, Flax, Optax, pandas,
scikit-learn); ONNX export and the other runtimes of ``bench`` need ``bench``.
:func:`require` turns the ``ImportError`` of a missing extra into a :class:`MissingExtraError`
(an :class:`~ltcn_kernels.errors.InputError`: the command line prints one line, exit 2).
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager

from .errors import InputError

# The extra that provides each top-level module a command may import.
EXTRA_OF_MODULE = {
    "jax": "train", "jaxlib": "train", "flax": "train", "optax": "train", "pandas": "train",
    "sklearn": "train", "matplotlib": "train", "onnx": "bench", "onnxruntime": "bench",
    "cryptography": "train", "numba": "edge", "llvmlite": "edge", "uvicorn": "serve", "starlette": "serve",
    "prometheus_client": "metrics",
}

# What `ltcn --help` says about each command's extra.
COMMAND_EXTRAS = {
    "edge": ("data summary", "flows", "detect", "warmup", "verify",
             "predict/evaluate --backend sparse|dense"),
    "train": ("run", "export", "keygen", "sign", "demo", "predict/evaluate --backend jax"),
    "bench": ("export --format onnx", "bench (the ONNX Runtime rows; XLA rows need train)"),
    "metrics": ("detect --metrics-listen/--metrics-textfile (Prometheus)",),
}


class MissingExtraError(InputError, ImportError):
    """A command needs an optional extra that is not installed; ``str()`` is one line naming
    the extra and the pip command that installs it."""

    def __init__(self, what: str, extra: str, module: str | None = None):
        self.what, self.extra, self.module = what, extra, module
        missing = f" (no module named {module!r})" if module else ""
        super().__init__(f'{what} needs the `{extra}` extra{missing}: pip install "ltcn[{extra}]"')


def _top(name: str | None) -> str | None:
    return None if not name else name.split(".")[0]


@contextmanager
def require(what: str, extra: str | None = None):
    """Run the body; an ``ImportError`` of an optional extra's module becomes a
    :class:`MissingExtraError` for ``what`` (the extra named by ``extra``, else found from
    the missing module). An ImportError of anything else propagates (a bug, not the install).
    """
    try:
        yield
    except MissingExtraError:
        raise
    except ImportError as exc:
        module = _top(getattr(exc, "name", None))
        found = EXTRA_OF_MODULE.get(module or "")
        if found is None and module not in (None, "ltcn_jax", "ltcn_kernels"):
            raise
        raise MissingExtraError(what, extra or found or "train", module) from exc


def import_module(name: str, what: str, extra: str | None = None):
    """``importlib.import_module(name)``, a :class:`MissingExtraError` if its extra is missing."""
    with require(what, extra):
        return importlib.import_module(name)
