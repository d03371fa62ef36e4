"""Energy MODELS (never measurements): where no power sensor exists, what the physics and
published measurements say the engine's work costs. Every constant carries its source.

* :func:`gateway_power` -- a gateway at an offered load: busy cores = flows/s x seconds per
  flow; power = P_idle + busy cores x (P_4cores - P_idle) / 4 (linear in busy cores: an
  assumption), with a Raspberry Pi 4's idle and 4-core-load power from published measurements.
* :func:`inference_energy` -- energy per flow from counted work: multiply-adds x the energy of
  an fp32 multiply and add, plus bytes read x the energy per 64-bit read of the memory level
  the data lives in (45 nm figures), so fewer multiply-adds and fewer memory reads show
  separately.
* :func:`radio_energy` -- a device's uplink energy for sending bytes to the cloud, from an
  empirical LTE / WiFi power model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    value: float
    unit: str
    source: str


HOROWITZ = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC "
            "2014, p. 10-14 (45 nm, 0.9 V)")
RASPI_TV = ("A. Eames, 'How much power does Pi4B use? Power measurements', RasPi.TV, 2019: "
            "Pi 4 B idle 540 mA and `stress --cpu 4` 1280 mA at 5 V")
HUANG = ("J. Huang et al., 'A close examination of performance and power characteristics of 4G "
         "LTE networks', MobiSys 2012, Table 4 (P = alpha_u * t_u + beta, t_u uplink Mbit/s)")

CONSTANTS = {
    "fp32_mult_pj": Constant(3.7, "pJ", HOROWITZ),
    "fp32_add_pj": Constant(0.9, "pJ", HOROWITZ),
    "int32_add_pj": Constant(0.1, "pJ", HOROWITZ),
    "sram_8kb_read64_pj": Constant(10.0, "pJ per 64-bit read", HOROWITZ),
    "sram_32kb_read64_pj": Constant(20.0, "pJ per 64-bit read", HOROWITZ),
    "sram_1mb_read64_pj": Constant(100.0, "pJ per 64-bit read", HOROWITZ),
    "dram_read64_pj": Constant(2000.0, "pJ per 64-bit read (1.3-2.6 nJ; the upper half)", HOROWITZ),
    "pi4_idle_w": Constant(2.7, "W", RASPI_TV),
    "pi4_4core_w": Constant(6.4, "W", RASPI_TV),
    "lte_alpha_up_mw_per_mbps": Constant(438.39, "mW per Mbit/s", HUANG),
    "lte_beta_mw": Constant(1288.04, "mW", HUANG),
    "wifi_alpha_up_mw_per_mbps": Constant(283.17, "mW per Mbit/s", HUANG),
    "wifi_beta_mw": Constant(132.86, "mW", HUANG),
}
PI4_CORES = 4
# Cache sizes a Cortex-A72 (Raspberry Pi 4, BCM2711) has: 32 KiB L1 data per core, 1 MiB L2.
PI4_L1_BYTES, PI4_L2_BYTES = 32 << 10, 1 << 20


def c(name: str) -> float:
    return CONSTANTS[name].value


def gateway_power(flows_per_s: float, seconds_per_flow: float, *, idle_w: float | None = None,
                  four_core_w: float | None = None, cores: int = PI4_CORES) -> dict:
    """Average power of a gateway classifying ``flows_per_s`` at ``seconds_per_flow`` each.

    Returns busy cores, whether ``cores`` can keep up, and the modelled watts (capped at all
    cores busy when they cannot)."""
    idle = c("pi4_idle_w") if idle_w is None else idle_w
    full = c("pi4_4core_w") if four_core_w is None else four_core_w
    busy = flows_per_s * seconds_per_flow
    per_core = (full - idle) / PI4_CORES
    return {"busy_cores": busy, "keeps_up": busy <= cores,
            "watts": idle + min(busy, cores) * per_core, "per_core_w": per_core, "idle_w": idle}


def memory_level(nbytes: int) -> tuple[str, float]:
    """(level, pJ per 64-bit read) of a working set of ``nbytes`` on a Pi 4's caches."""
    if nbytes <= PI4_L1_BYTES:
        return "L1 (32 KiB SRAM)", c("sram_32kb_read64_pj")
    if nbytes <= PI4_L2_BYTES:
        return "L2 (1 MiB SRAM)", c("sram_1mb_read64_pj")
    return "DRAM", c("dram_read64_pj")


def inference_energy(macs: float, weight_bytes: float, activation_bytes_read: float, *,
                     reuse: int = 1, index_adds: float = 0.0) -> dict:
    """Energy per flow (pJ): ``macs`` fp32 multiply-adds; the weight set (``weight_bytes``,
    whose size picks the memory level) read once per ``reuse`` flows (1: one flow per call,
    every weight read for every flow; B: a batch of B flows that reads each weight once);
    activations read from L1; ``index_adds`` integer additions of sparse indexing."""
    if reuse < 1:
        raise ValueError("reuse must be at least one flow per weight read")
    level, pj64 = memory_level(int(weight_bytes))
    compute = macs * (c("fp32_mult_pj") + c("fp32_add_pj")) + index_adds * c("int32_add_pj")
    weights = weight_bytes / reuse / 8 * pj64
    acts = activation_bytes_read / 8 * c("sram_32kb_read64_pj")
    return {"compute_pj": compute, "weights_pj": weights, "activations_pj": acts,
            "total_pj": compute + weights + acts, "weight_level": level}


def radio_energy(nbytes: float, uplink_mbps: float, link: str = "lte") -> dict:
    """Uplink energy (J) of sending ``nbytes`` at ``uplink_mbps`` (no tail, no retransmission:
    a lower bound)."""
    if link not in ("lte", "wifi"):
        raise ValueError(f"unknown link {link!r}; expected lte or wifi")
    if not (uplink_mbps > 0 and math.isfinite(uplink_mbps)):
        raise ValueError("the uplink rate must be a positive number of Mbit/s")
    seconds = nbytes * 8 / (uplink_mbps * 1e6)
    watts = (c(f"{link}_alpha_up_mw_per_mbps") * uplink_mbps + c(f"{link}_beta_mw")) / 1e3
    return {"seconds": seconds, "watts": watts, "joules": watts * seconds}
