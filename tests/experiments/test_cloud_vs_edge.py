"""The cloud-vs-edge experiment's parts: the WAN proxy and the HTTP inference server."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import numpy as np
import pytest
from cloud_edge.wan import LinkConfig, WanProxy, measure_rtt

from conftest import BOT_ENTIRE
from ltcn_kernels.pipeline import classify_files


# ------------------------------------------------------------------------------ proxy
@pytest.fixture(scope="module")
def echo_port():
    """A threaded TCP echo server on loopback (echoes until the client half-closes)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def handle(conn):
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()


def _roundtrip(port: int, payload: bytes) -> bytes:
    """Send ``payload`` (then half-close) and read everything echoed back."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
        sender.start()
        got = bytearray()
        while chunk := s.recv(65536):
            got += chunk
        sender.join()
    return bytes(got)


def test_proxy_forwards_bytes_intact_and_counts_them(echo_port):
    payload = np.random.default_rng(0).integers(0, 256, 1_500_000, dtype=np.uint8).tobytes()
    link = LinkConfig(rtt_ms=2, jitter_ms=1, seed=1)  # jitter: order must still be kept
    with WanProxy("127.0.0.1", echo_port, link) as proxy:
        assert _roundtrip(proxy.port, payload) == payload
        assert _roundtrip(proxy.port, b"small") == b"small"
        deadline = time.monotonic() + 5
        while proxy.bytes_down < len(payload) + 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.counters() == {"bytes_up": len(payload) + 5, "bytes_down": len(payload) + 5,
                                    "connections": 2}
        assert not proxy.errors
        proxy.reset_counters()
        assert proxy.counters() == {"bytes_up": 0, "bytes_down": 0, "connections": 0}


def test_proxy_rtt_is_at_least_the_configured_rtt(echo_port):
    rtt = 0.03
    with WanProxy("127.0.0.1", echo_port, LinkConfig(rtt_ms=rtt * 1e3)) as proxy:
        times = measure_rtt("127.0.0.1", proxy.port, n=4, payload=b"ping")
    # The first exchange (timed from before connect) also pays the emulated handshake.
    assert times[0] >= 2 * rtt
    assert min(times[1:]) >= rtt


def test_proxy_bandwidth_makes_a_transfer_take_at_least_its_serialization_time(echo_port):
    nbytes, up_mbps = 400_000, 16.0
    payload = np.random.default_rng(2).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    link = LinkConfig(up_mbps=up_mbps, down_mbps=None, handshake=False)
    with WanProxy("127.0.0.1", echo_port, link) as proxy:
        t0 = time.perf_counter()
        assert _roundtrip(proxy.port, payload) == payload
        elapsed = time.perf_counter() - t0
    assert elapsed >= nbytes * 8 / (up_mbps * 1e6)


def test_link_config_rejects_negative_values():
    with pytest.raises(ValueError, match="rtt_ms"):
        LinkConfig(rtt_ms=-1)
    with pytest.raises(ValueError, match="up_mbps"):
        LinkConfig(up_mbps=-5)


# ------------------------------------------------------------------------------ server
@pytest.fixture(scope="module")
def model(bot_window_model):
    return bot_window_model


@pytest.fixture(scope="module")
def server(model):
    """uvicorn serving the model in a thread on an ephemeral loopback port."""
    uvicorn = pytest.importorskip("uvicorn", reason="uvicorn not installed (the 'serve' extra)")
    pytest.importorskip("starlette", reason="starlette not installed (the 'serve' extra)")
    from cloud_edge.serving import bind, create_app

    sock = bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(create_app(model), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield sock.getsockname()[1]
    srv.should_exit = True
    thread.join(10)
    sock.close()


def _request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def test_healthz(server):
    status, ctype, body = _request(server, "GET", "/healthz")
    assert status == 200 and ctype.startswith("application/json")
    doc = json.loads(body)
    assert doc["status"] == "ok" and doc["dataset"] == "bot-iot" and "Normal" in doc["classes"]


def test_server_matches_classify_files_on_the_same_records(server, model):
    data = BOT_ENTIRE.read_bytes()
    status, _, body = _request(server, "POST", "/v1/detect?probs=1", data)
    assert status == 200, body[:300]
    doc = json.loads(body)
    pred = classify_files(model, [BOT_ENTIRE])
    by_row = np.empty_like(pred.probs)
    by_row[pred.order] = pred.probs
    assert doc["flows"] == len(pred.order) == len(doc["class"]) == len(doc["p_attack"])
    assert doc["classes"] == list(pred.classes)
    np.testing.assert_array_equal(doc["line"], pred.table.line)
    # The same float32 numbers, exactly (JSON carries each float32 value as a double).
    np.testing.assert_array_equal(np.asarray(doc["probabilities"], np.float32), by_row)
    assert doc["class"] == [pred.classes[i] for i in by_row.argmax(axis=1)]
    normal = pred.classes.index("Normal")
    np.testing.assert_allclose(
        doc["p_attack"], 1.0 - by_row[:, normal].astype(np.float64), atol=1e-6
    )
    assert doc["compute_ms"] > 0


def test_single_record_and_default_answer_has_no_probability_matrix(server):
    header, first = BOT_ENTIRE.read_bytes().splitlines()[:2]
    status, _, body = _request(server, "POST", "/v1/detect", header + b"\n" + first + b"\n")
    assert status == 200
    doc = json.loads(body)
    assert doc["flows"] == 1 and doc["line"] == [2] and "probabilities" not in doc


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"garbage without delimiters\n", "body:1"),
        (b"a,b\n1,2\n", "unknown format"),
        (b"\x00\x01\x02binary\xff" * 50, "body"),
    ],
)
def test_bad_body_is_a_400_with_a_clear_message(server, body, message):
    status, ctype, raw = _request(server, "POST", "/v1/detect", body)
    assert status == 400 and ctype.startswith("application/json")
    doc = json.loads(raw)
    assert message in doc["error"] and "Traceback" not in doc["error"]
    assert "/tmp" not in doc["error"] and "ltcn-serve-" not in doc["error"]  # no server paths


def test_ragged_record_names_the_line(server):
    header, first = BOT_ENTIRE.read_bytes().splitlines()[:2]
    cut = b",".join(first.split(b",")[:5])
    status, _, raw = _request(
        server, "POST", "/v1/detect", header + b"\n" + first + b"\n" + cut + b"\n"
    )
    assert status == 400
    assert json.loads(raw)["error"].startswith("body:3")


def test_wrong_method_and_path(server):
    assert _request(server, "GET", "/v1/detect")[0] == 405
    assert _request(server, "POST", "/nope", b"x")[0] == 404


def test_proxied_request_counts_bytes(server):
    data = BOT_ENTIRE.read_bytes()
    with WanProxy("127.0.0.1", server, LinkConfig(rtt_ms=4)) as proxy:
        status, _, body = _request(proxy.port, "POST", "/v1/detect", data)
        assert status == 200
        assert proxy.bytes_up > len(data)  # body + request line and headers
        assert proxy.bytes_down >= len(body)
