"""A user-space WAN emulator: an asyncio TCP proxy adding delay, jitter and a bandwidth limit.

The kernel's ``netem`` is not available everywhere (containers, this machine), so the link is
emulated in the proxy itself::

    client --TCP--> WanProxy(listen) ==[ emulated link ]==> upstream host:port

Per direction (``up`` = client to upstream, ``down`` = upstream to client):

* **serialization**: a link-busy-until clock per direction, shared by every connection of the
  proxy (one WAN link): a chunk of ``b`` bytes occupies the link for ``b * 8 / bps`` seconds
  after the link is free and the chunk has arrived;
* **propagation**: a one-way delay of ``rtt / 2`` plus jitter drawn from a normal distribution
  (``N(0, jitter)``), the sum truncated at 0 -- ``netem delay D J distribution normal``;
* **FIFO**: a chunk is never delivered before the chunk before it on the same connection
  (bytes are never reordered, as TCP guarantees);
* **handshake**: with ``handshake=True`` (default) data of a NEW connection leaves the proxy
  no earlier than one emulated round trip after the connection was accepted: TCP's SYN /
  SYN-ACK exchange (on loopback the client's ``connect`` completes at once; over a WAN the
  first request byte reaches the server 1.5 RTT after ``connect`` starts, not 0.5 RTT).

Not emulated (so the emulation is a LOWER bound on a real link's latency): TCP slow start and
congestion control (the loopback TCP underneath has a huge window), loss and retransmission,
TLS handshakes, queueing behind other traffic.

Bytes are counted per direction as they enter the link. :class:`WanProxy` runs its own event
loop in a background thread (``start`` / ``stop`` / context manager), so blocking clients in the
calling thread can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

CHUNK_BYTES = 16 * 1024  # read size: store-and-forward granularity of the emulated link


@dataclass(frozen=True)
class LinkConfig:
    """An emulated WAN link.

    Attributes:
        rtt_ms: round-trip propagation delay; each direction gets ``rtt_ms / 2``.
        jitter_ms: standard deviation of the normal jitter added to each one-way delay
            (per chunk; the delay is truncated at 0 and chunks keep their order).
        up_mbps: bandwidth client -> upstream in Mbit/s (``None`` or 0: unlimited).
        down_mbps: bandwidth upstream -> client in Mbit/s (``None`` or 0: unlimited).
        handshake: delay a new connection's first data by one emulated round trip (TCP's
            three-way handshake).
        seed: seed of the jitter generator (``numpy.random.default_rng``).
    """

    rtt_ms: float = 0.0
    jitter_ms: float = 0.0
    up_mbps: float | None = None
    down_mbps: float | None = None
    handshake: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("rtt_ms", "jitter_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("up_mbps", "down_mbps"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0 (0 or None: unlimited)")


class _Link:
    """One direction of the emulated link: the busy-until clock and the delay sampler."""

    def __init__(self, one_way_s: float, jitter_s: float, mbps: float | None, rng):
        self.one_way_s = one_way_s
        self.jitter_s = jitter_s
        self.bps = float(mbps) * 1e6 if mbps else 0.0
        self.rng = rng
        self.busy_until = 0.0
        self.bytes = 0
        self.chunks = 0

    def delay(self) -> float:
        if self.jitter_s <= 0:
            return self.one_way_s
        return max(0.0, self.one_way_s + float(self.rng.normal(0.0, self.jitter_s)))

    def schedule(self, now: float, nbytes: int, not_before: float) -> float:
        """Time at which a chunk of ``nbytes`` that arrived at ``now`` reaches the far end
        (before the per-connection FIFO rule)."""
        self.bytes += nbytes
        self.chunks += 1
        start = max(now, not_before)
        if self.bps > 0:
            start = max(start, self.busy_until) + nbytes * 8.0 / self.bps
            self.busy_until = start
        return start + self.delay()


class WanProxy:
    """A TCP proxy ``listen_host:port -> upstream_host:upstream_port`` emulating a WAN link.

    Args:
        upstream_host: host of the server behind the link.
        upstream_port: its port.
        link: the emulated link (:class:`LinkConfig`).
        listen_host: address to listen on (default loopback).
        listen_port: port to listen on (0: an ephemeral port; see :attr:`port` after start).

    Use::

        with WanProxy("127.0.0.1", server_port, LinkConfig(rtt_ms=50)) as proxy:
            http.client.HTTPConnection("127.0.0.1", proxy.port) ...
            proxy.bytes_up, proxy.bytes_down
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        link: LinkConfig | None = None,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ):
        self.upstream = (upstream_host, int(upstream_port))
        self.link = link or LinkConfig()
        self.listen = (listen_host, int(listen_port))
        self.port: int | None = None
        self.connections = 0
        self.errors: list[str] = []
        rng = np.random.default_rng(self.link.seed)
        half, jit = self.link.rtt_ms / 2e3, self.link.jitter_ms / 1e3
        self._up = _Link(half, jit, self.link.up_mbps, rng)
        self._down = _Link(half, jit, self.link.down_mbps, rng)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------------ counters
    @property
    def bytes_up(self) -> int:
        """Bytes client -> upstream that entered the link since start (or the last reset)."""
        return self._up.bytes

    @property
    def bytes_down(self) -> int:
        """Bytes upstream -> client that entered the link since start (or the last reset)."""
        return self._down.bytes

    def counters(self) -> dict[str, int]:
        """Returns: ``{"bytes_up", "bytes_down", "connections"}`` so far."""
        return {"bytes_up": self._up.bytes, "bytes_down": self._down.bytes,
                "connections": self.connections}

    def reset_counters(self) -> None:
        """Set the byte and connection counters to zero."""
        self._up.bytes = self._down.bytes = self.connections = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> int:
        """Start the proxy's event loop in a daemon thread.

        Args:
            timeout: seconds to wait for the listening socket.

        Returns:
            The port the proxy listens on.
        """
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._thread = threading.Thread(target=self._run, name="wan-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("WAN proxy did not start")
        if self._start_error is not None:
            raise self._start_error
        assert self.port is not None
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every open connection; join the thread."""
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def _shutdown():
            if self._server is not None:
                self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        with contextlib.suppress(RuntimeError):  # loop already closed
            asyncio.run_coroutine_threadsafe(_shutdown(), loop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> WanProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.listen[0], self.listen[1])
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

    # ------------------------------------------------------------------ forwarding
    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        self.connections += 1
        u_writer = None
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
            # The handshake costs one emulated round trip before the first request byte can
            # leave the client; the server's first reply byte cannot precede it anyway.
            not_before = accepted + (self.link.rtt_ms / 1e3 if self.link.handshake else 0.0)
            await asyncio.gather(
                self._pipe(c_reader, u_writer, self._up, not_before),
                self._pipe(u_reader, c_writer, self._down, 0.0),
            )
        except (OSError, asyncio.IncompleteReadError) as exc:
            if len(self.errors) < 100:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            pass
        finally:
            for w in (c_writer, u_writer):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    async def _pipe(self, reader, writer, link: _Link, not_before: float) -> None:
        """Forward ``reader`` -> ``writer`` through ``link``: read chunks as they come, deliver
        each at its scheduled time (FIFO), half-close at EOF."""
        loop = asyncio.get_running_loop()
        queue: deque[tuple[float, bytes]] = deque()
        wake = asyncio.Event()
        done = False
        last = 0.0

        async def deliver():
            while True:
                while not queue:
                    if done:
                        return
                    wake.clear()
                    await wake.wait()
                at, data = queue.popleft()
                # Sleep until the delivery time: loop timers may wake a little early or late;
                # re-check so the emulated delay is never shortened.
                while (wait := at - loop.time()) > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                at = max(link.schedule(loop.time(), len(data), not_before), last)
                last = at
                queue.append((at, data))
                wake.set()
        except (ConnectionError, OSError):
            pass
        finally:
            done = True
            wake.set()
        try:
            await sender
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass
        finally:
            if not sender.done():
                sender.cancel()


def measure_rtt(host: str, port: int, n: int = 5, payload: bytes = b"x") -> list[float]:
    """Round trips (seconds) of ``payload`` through an echo server at ``host:port`` on one
    connection -- a helper for checking an emulated link.

    Args:
        host: address of the (proxied) echo server.
        port: its port.
        n: round trips to time.
        payload: bytes sent each time (echoed back in full before the next).

    Returns:
        The ``n`` round-trip times; the first is timed from before ``connect`` (so it includes
        the connection setup: the emulated handshake).
    """
    import socket

    out = []
    t0 = time.perf_counter()
    with socket.create_connection((host, port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(n):
            if i:
                t0 = time.perf_counter()
            s.sendall(payload)
            got = 0
            while got < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("echo server closed the connection")
                got += len(chunk)
            out.append(time.perf_counter() - t0)
    return out
