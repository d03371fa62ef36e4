"""ltcn edge side: read flow records, run an exported model, guard a gateway.

Installed as ``ltcn_kernels`` (folder ``kernels/``). Needs numpy and numba only -- it never
imports jax, flax, optax, pandas or scikit-learn, so it installs on a Raspberry Pi. The public
API is ``__all__``; the subpackages say what they hold:

* :mod:`.io` -- readers of NSL-KDD, CICIDS2017 and BoT-IoT records, the Argus bridge;
* :mod:`.features` -- the frozen preprocessing and causal windows;
* :mod:`.arch` -- the one description of the L-TCN (layers, parameters, receptive field);
* :mod:`.spec` -- the model spec: the L-TCN plus how records are fed to it (one typed object);
* :mod:`.engine` -- the ``.ltcn`` file and the sparse/dense Numba inference engine;
* :mod:`.pipeline` -- load a model once and classify flow files with it (above the engine);
* :mod:`.gateway` -- ``ltcn detect``: sources, classifier, and its outputs as sinks (EVE
  alerts, nftables, Prometheus metrics);
* :mod:`.cli` -- the ``ltcn`` command line (the training side adds its commands as plugins);
* :mod:`.bench` -- a measuring tool (``python -m ltcn_kernels.bench``), not engine code.
"""

from ._numba_setup import configure as _configure_numba

_configure_numba()  # before Numba creates its CPU target (our first @njit): see _numba_setup

import os as _os  # noqa: E402
import sys as _sys  # noqa: E402
import tempfile as _tempfile  # noqa: E402


def _writable(path: str) -> bool:
    """What Numba's cache locators check: the folder can be made and written to."""
    try:
        _os.makedirs(path, exist_ok=True)
        _tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _numba_cache_fallback() -> str | None:
    """Make sure Numba finds a writable cache before any ``cache=True`` kernel is defined.

    Numba caches into ``NUMBA_CACHE_DIR``, else the package's own ``__pycache__`` folders,
    else ``~/.cache/numba``, and raises ``RuntimeError: cannot cache function ... no locator
    available`` at import when none is writable (a system user without a home, a read-only
    install). Then use a per-user temporary folder, or, if even that fails, compile without
    a cache; say so in one line on standard error. Returns what was chosen (None: Numba's own).
    """
    given = _os.environ.get("NUMBA_CACHE_DIR")
    if given and _writable(given):
        return None
    here = _os.path.dirname(_os.path.abspath(__file__))
    subpackages = [here] + [
        _os.path.join(here, d) for d in sorted(_os.listdir(here))
        if _os.path.isfile(_os.path.join(here, d, "__init__.py"))
    ]
    if all(_writable(_os.path.join(d, "__pycache__")) for d in subpackages):
        return None
    xdg = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    if _writable(_os.path.join(xdg, "numba")):
        return None
    why = f"NUMBA_CACHE_DIR={given} is not writable" if given else "no writable Numba cache"
    uid = _os.getuid() if hasattr(_os, "getuid") else "user"
    tmp = _os.path.join(_tempfile.gettempdir(), f"ltcn-numba-cache-{uid}")
    if _writable(tmp):
        _os.environ["NUMBA_CACHE_DIR"] = tmp
        if "numba.core.config" in _sys.modules:  # numba imported before us: tell it directly
            _sys.modules["numba.core.config"].CACHE_DIR = tmp
        chosen = tmp
        what = f"caching compiled kernels in {tmp}"
    else:
        from numba.core.dispatcher import Dispatcher

        Dispatcher.enable_caching = lambda self: None  # cache=True is then ignored
        chosen = ""
        what = "compiling without a cache (every start compiles)"
    print(f"ltcn: warning: {why} (package folder and ~/.cache not writable); {what}; "
          "set NUMBA_CACHE_DIR to a writable folder to keep them", file=_sys.stderr)
    return chosen


NUMBA_CACHE_FALLBACK = _numba_cache_fallback()  # before anything below imports numba

from .arch import LTCNArch  # noqa: E402
from .engine import EngineModel, Stream, predict_proba_sequence, predict_proba_windows  # noqa: E402
from .engine.artifact import Artifact, read_artifact, sign_artifact, write_artifact  # noqa: E402
from .engine.signature import TrustStore, UntrustedModelError  # noqa: E402
from .errors import DataFormatError, InputError, UsageError  # noqa: E402
from .features.preprocess import Preprocessor  # noqa: E402
from .features.windows import causal_windows, feature_sequence, make_sequences  # noqa: E402
from .gateway import DetectOptions, run_detect  # noqa: E402
from .io.flows import Categorical, FlowTable, detect, read_flows, read_flows_bytes  # noqa: E402
from .pipeline import LoadedModel, Predictions, classify_files, classify_table, load_model  # noqa: E402
from .spec import ModelSpec  # noqa: E402

__all__ = [
    "Artifact",
    "Categorical",
    "DataFormatError",
    "DetectOptions",
    "EngineModel",
    "FlowTable",
    "InputError",
    "LTCNArch",
    "LoadedModel",
    "ModelSpec",
    "Predictions",
    "Preprocessor",
    "Stream",
    "TrustStore",
    "UntrustedModelError",
    "UsageError",
    "causal_windows",
    "classify_files",
    "classify_table",
    "detect",
    "feature_sequence",
    "load_model",
    "make_sequences",
    "predict_proba_sequence",
    "predict_proba_windows",
    "read_artifact",
    "read_flows",
    "read_flows_bytes",
    "run_detect",
    "sign_artifact",
    "write_artifact",
]
