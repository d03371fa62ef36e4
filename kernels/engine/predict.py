"""Moved to :mod:`ltcn_kernels.pipeline` (above the engine). A temporary re-export while the
command line moves; removed once no module imports this path."""

from ..pipeline import *  # noqa: F403
from ..pipeline import __all__  # noqa: F401
