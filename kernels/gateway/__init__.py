"""The gateway (``ltcn detect``): flow records in, EVE alerts and nftables blocks out.

One module per pipeline stage: :mod:`.sources` (files, directories, follow, standard input,
captures, interfaces), :mod:`.flowlog` (``--save-flows``), :mod:`.classifier` (the stateful
engine), the outputs of each batch of alerts (:mod:`.sinks`: the :class:`Sink` interface, the
alert file and the firewall as sinks; :mod:`.prometheus`, the metrics), :mod:`.eve` (the alert
event), :mod:`.evetext` (its text kernels), :mod:`.alertfile` (the rotating alert file),
:mod:`.firewall` (nftables), :mod:`.suppress` (suppression and threshold rules),
:mod:`.stats` (counters), :mod:`.loop` (the loop and :func:`run_detect`) and :mod:`.options`
(:class:`DetectOptions`, every option checked in one place).

Needs numpy and numba only (:mod:`.prometheus`: ``prometheus_client``, the ``metrics`` extra).
"""

from .alertfile import AlertWriter
from .classifier import Classifier
from .eve import AlertColumns, alert_event
from .firewall import Firewall
from .flowlog import FlowLog
from .loop import Gateway, run_detect
from .options import DetectOptions, GatewayError
from .sinks import AlertBatch, Sink
from .stats import Stats
from .suppress import AlertFilter

__all__ = [
    "AlertBatch",
    "AlertColumns",
    "AlertFilter",
    "AlertWriter",
    "Classifier",
    "DetectOptions",
    "Firewall",
    "FlowLog",
    "Gateway",
    "GatewayError",
    "Sink",
    "Stats",
    "alert_event",
    "run_detect",
]
