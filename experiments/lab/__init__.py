"""The gateway lab: a routed IoT network in network namespaces, benign traffic from real IoT
software, attacks with the tools BoT-IoT used, and labelled BoT-IoT flow records.

An experiment, not part of either installed package (a gateway never ships the attack tools'
orchestration): ``PYTHONPATH=experiments python -m lab record ...`` (or ``python -m lab`` from
``experiments/``); ``make lab`` runs the kept recording.

:mod:`.topology` (namespaces, bridges, routes), :mod:`.services` (the servers),
:mod:`.traffic` (benign activities and attacks), :mod:`.scenario` (scenario files and their
schedule), :mod:`.record` (capture, Argus, labels, manifest). Linux, root.
"""

from .record import label_flows, pcap_packet_count, record
from .scenario import Scenario, load_scenario, scenario_names, schedule
from .topology import LabError, Topology

__all__ = [
    "LabError",
    "Scenario",
    "Topology",
    "label_flows",
    "load_scenario",
    "pcap_packet_count",
    "record",
    "scenario_names",
    "schedule",
]
