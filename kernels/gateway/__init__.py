"""The gateway (``ltcn detect``): flow records in, EVE alerts and nftables blocks out."""

from .detect import AlertWriter, Firewall, Gateway, GatewayError, Stats, run_detect

__all__ = ["AlertWriter", "Firewall", "Gateway", "GatewayError", "Stats", "run_detect"]
