"""Change the link layer of a classic pcap file of IPv4 packets (mergecap cannot join two link
types, and tcprewrite's ``--dlt=enet`` mangles raw-IP and Linux-cooked captures).

An attack capture taken on a phone (Linux cooked), a tunnel (raw IP) or a loopback interface is
replayed into an Ethernet site by replacing each packet's link header with a fixed Ethernet
header (locally administered MACs, type IPv4); into a raw-IP site by dropping its Ethernet
header. Only IPv4 packets are expected (the replay has already dropped the rest); the time
stamps and the IP packets are untouched.
"""

from __future__ import annotations

import os
import struct

__all__ = ["ETHERNET", "RAW_IPV4", "LinkTypeError", "convert_link", "link_type"]

ETHERNET = 1
RAW_IPV4 = 228  # LINKTYPE_IPV4
# link type -> bytes of link header before the IP packet (Ethernet is parsed: VLAN tags)
_HEADER_BYTES = {0: 4, 108: 4, 12: 0, 14: 0, 101: 0, 228: 0, 113: 16, 276: 20}
_RAW = {12, 14, 101, 228}
_ETHER_HEADER = bytes.fromhex("020000000002" "020000000001" "0800")
_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",  # microseconds
           b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}  # nanoseconds


class LinkTypeError(ValueError):
    """A file this module cannot convert; the message is one line."""


def _header(path: str | os.PathLike, head: bytes) -> str:
    if len(head) < 24 or head[:4] not in _MAGICS:
        raise LinkTypeError(f"{path}: not a classic pcap file")
    return _MAGICS[head[:4]]


def link_type(path: str | os.PathLike) -> int:
    """The pcap file's link type (LINKTYPE_* number)."""
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(_header(path, head) + "I", head[20:24])[0]


def _ethernet_payload(frame: bytes) -> bytes:
    offset, ethertype = 14, frame[12:14]
    while ethertype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= offset + 4:  # 802.1Q/ad
        ethertype, offset = frame[offset + 2:offset + 4], offset + 4
    return frame[offset:]


def convert_link(source: str | os.PathLike, out: str | os.PathLike, target: int) -> int:
    """Write ``source``'s packets to ``out`` with link type ``target`` (:data:`ETHERNET` or a
    raw-IP type); the source's link type is returned.

    Raises:
        LinkTypeError: not classic pcap, or a link type other than Ethernet, raw IP, Linux
            cooked (v1, v2) or BSD loopback, or a target other than Ethernet or raw IP.
    """
    if target not in (ETHERNET, *_RAW):
        raise LinkTypeError(f"{out}: cannot write link type {target}")
    with open(source, "rb") as src, open(out, "wb") as dst:
        head = src.read(24)
        order = _header(source, head)
        (linktype,) = struct.unpack(order + "I", head[20:24])
        if linktype != ETHERNET and linktype not in _HEADER_BYTES:
            raise LinkTypeError(f"{source}: link type {linktype} is not one the replay converts")
        record = struct.Struct(order + "IIII")
        dst.write(head[:20] + struct.pack(order + "I", target))
        while len(raw := src.read(record.size)) == record.size:  # a packet at a time
            seconds, fraction, captured, length = record.unpack(raw)
            frame = src.read(captured)
            if linktype == ETHERNET:
                packet = _ethernet_payload(frame)
            else:
                packet = frame[_HEADER_BYTES[linktype]:]
            new = _ETHER_HEADER + packet if target == ETHERNET else packet
            wire = length - (len(frame) - len(packet)) + (len(new) - len(packet))
            dst.write(record.pack(seconds, fraction, len(new), max(wire, len(new))) + new)
    return linktype
