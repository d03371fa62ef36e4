"""An off-path attacker cannot steer the firewall against the network it protects (issue 27,
section 2): spoofed flows "from" a LAN device neither get it blocked nor shield the attacker."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ltcn_kernels.gateway import DetectOptions
from ltcn_kernels.gateway.firewall import Firewall, interface_networks
from ltcn_kernels.gateway.loop import _protected
from ltcn_kernels.gateway.options import GatewayError

LAN, VICTIM, ATTACKER = "192.168.1.0/24", "192.168.1.10", "203.0.113.66"


def _ok(argv):
    return SimpleNamespace(returncode=0, stdout="", stderr="")


def _firewall(protected=()):
    return Firewall(apply=True, runner=_ok, own=(), protected=protected, rate=1e6)


def test_spoofed_flows_from_a_victim_first_no_longer_shield_the_attacker():
    """Before: 20 spoofed alerting flows "from" the victim came first, the victim was blocked,
    and the attacker's 500 flows to it were exempted as replies to a blocked address."""
    exposed = _firewall()  # what --block-local does: the old behaviour, kept on request
    outcomes = [exposed.block(VICTIM, ATTACKER) for _ in range(20)]
    assert outcomes[0] == "added" and set(outcomes[1:]) == {"recent"}
    assert {exposed.block(ATTACKER, VICTIM) for _ in range(500)} == {"reply to a blocked address"}

    fw = _firewall(protected=(LAN,))
    assert {fw.block(VICTIM, ATTACKER) for _ in range(20)} == {"protected network"}
    assert fw.block(ATTACKER, VICTIM) == "added"  # the attacker is blocked on its first flow
    assert fw.counts["protected network"] == 20 and not fw.blocked(VICTIM)


def test_the_protected_networks_are_the_watched_interfaces_and_protect(monkeypatch):
    addrs = [{"ifname": "br-lan", "addr_info": [
        {"local": "192.168.1.1", "prefixlen": 24}, {"local": "fe80::1", "prefixlen": 64},
        {"local": "2001:db8:1::1", "prefixlen": 64}]}]

    def ip(argv):
        assert argv[:4] == ["ip", "-j", "addr", "show"] and argv[-2:] == ["dev", "br-lan"]
        return SimpleNamespace(returncode=0, stdout=json.dumps(addrs), stderr="")

    got = interface_networks("br-lan", ip)
    assert [str(n) for n in got] == ["192.168.1.0/24", "2001:db8:1::/64"]  # (no link-local)
    opts = DetectOptions(interface="br-lan", firewall="nftables", protect=("10.9.0.0/16",))
    assert _protected(opts, ip) == ("10.9.0.0/16", "192.168.1.0/24", "2001:db8:1::/64")
    local = DetectOptions(interface="br-lan", firewall="nftables", block_local=True)
    assert _protected(local, ip) == ()
    files = DetectOptions(source="x.csv", firewall="nftables")
    assert _protected(files, ip) == ()  # reading files: nothing protected unless --protect


@pytest.mark.parametrize("options, message", [
    ({"protect": ("10.0.0.0/8",)}, "--protect needs --firewall nftables"),
    ({"block_local": True}, "--block-local needs --firewall nftables"),
    ({"protect": ("not a net",), "firewall": "nftables"}, "--protect 'not a net'"),
])
def test_protect_options_are_checked(options, message):
    with pytest.raises(GatewayError, match=message):
        DetectOptions(source="x.csv", **options)
