"""The gateway's outputs as sinks, and its statistics as Prometheus metrics: a running
`ltcn detect` scraped over HTTP (loopback only) returns the counters its final stats line
reports, the node_exporter textfile holds them too, and the options are checked."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import REPO as REPO_PATH
from ltcn_kernels.extras import MissingExtraError
from ltcn_kernels.gateway import AlertBatch, DetectOptions, GatewayError, Sink, run_detect
from ltcn_kernels.gateway.options import listen_address

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

REPO = str(REPO_PATH)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _scrape(port: int) -> dict[tuple[str, tuple], float] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return _samples(r.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None  # (not listening yet)


def _by(samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for (n, k), v in samples.items() if n == name}


def _one(samples, name: str) -> float:
    return samples[(name, ())]


@pytest.fixture(scope="module")
def threshold(bot_replay) -> tuple[int, float]:
    """(the replay's records, a threshold at which most of them alert)."""
    return len(bot_replay.read_bytes().splitlines()) - 1, 1e-6


def test_a_running_detector_scraped_over_http_reports_its_final_counters(
    bot_window_model, bot_replay, threshold, tmp_path
):
    """`ltcn detect` on a live feed (standard input kept open), with a dry-run firewall: its
    endpoint, scraped while it runs, has the counters of the final stats line; after it ends,
    the port is closed and the textfile holds the same counters."""
    flows, at = threshold
    port, alerts, prom = _free_port(), tmp_path / "a.jsonl", tmp_path / "ltcn.prom"
    commands = open(tmp_path / "nft.txt", "wb")  # (the dry run's; never a pipe nobody reads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(bot_window_model),
         "--source", "-", "--alerts", str(alerts), "--threshold", repr(at), "--micro-batch", "16",
         "--stats-every", "0", "--firewall", "nftables", "--block-rate", "1000",
         "--metrics-listen", f"127.0.0.1:{port}", "--metrics-textfile", str(prom)],
        stdin=subprocess.PIPE, stdout=commands, stderr=subprocess.PIPE, cwd=REPO,
    )
    try:
        proc.stdin.write(bot_replay.read_bytes())
        proc.stdin.flush()  # the pipe stays open: a live feed
        deadline, got = time.monotonic() + 300, None  # (a cold compile takes a minute or two)
        while time.monotonic() < deadline and proc.poll() is None:
            got = _scrape(port)
            if got is not None and got.get(("ltcn_flows_total", ())) == flows:
                break
            time.sleep(0.2)
        assert got is not None and _one(got, "ltcn_flows_total") == flows, got
        time.sleep(0.3)
        again = _scrape(port)  # nothing more to read: the counters stand still
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        commands.close()
    assert proc.returncode == 0, stderr.decode()
    final = json.loads(stderr.decode().split("ltcn detect final: ")[-1].splitlines()[0])
    assert f"ltcn detect: Prometheus metrics at http://127.0.0.1:{port}/metrics" in stderr.decode()
    for scraped in (got, again):
        _check(scraped, final, flows)
    with pytest.raises(urllib.error.URLError):  # the endpoint ended with the detector
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    _check(_samples(prom.read_text()), final, flows)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("ltcn.prom.")]  # (renamed)
    assert (tmp_path / "nft.txt").read_text().count("element") == final["firewall"]["added"] > 0


def _check(scraped, final: dict, flows: int) -> None:
    assert _one(scraped, "ltcn_flows_total") == final["flows"] == flows
    assert _one(scraped, "ltcn_lines_total") == flows  # (no bad line in the fixture)
    alerts = _by(scraped, "ltcn_alerts_total", "class")
    assert sum(alerts.values()) == final["alerts"] > 0
    assert _one(scraped, "ltcn_alerts_written_total") == final["alerts"]
    assert _one(scraped, "ltcn_alerts_lost_total") == 0
    assert sum(_by(scraped, "ltcn_skipped_total", "reason").values()) == final["skipped"]
    assert _by(scraped, "ltcn_firewall_total", "outcome") == final["firewall"]
    assert {dict(k)["action"] for (n, k) in scraped if n == "ltcn_alerts_total"} == {"allowed"}
    assert _one(scraped, "ltcn_compile_seconds") == pytest.approx(final["compile_s"], abs=1e-3)
    latency = _by(scraped, "ltcn_latency_seconds", "quantile")
    assert latency["0.5"] * 1e6 == pytest.approx(final["latency_us_p50"], abs=0.1)
    assert latency["0.99"] * 1e6 == pytest.approx(final["latency_us_p99"], abs=0.1)
    assert _one(scraped, "ltcn_batches_total") >= flows / 16
    assert 0 < _one(scraped, "ltcn_classify_seconds_total") < final["elapsed_s"]
    assert _one(scraped, "ltcn_start_time_seconds") <= time.time()


class Collect(Sink):
    """A sink of our own: what a new output gets (the interface is all it needs)."""

    def __init__(self):
        self.batches: list[AlertBatch] = []
        self.started = self.closed = False

    def start(self, gateway) -> None:
        self.started = gateway.stats.flows == 0

    def emit(self, batch: AlertBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        self.closed = True


def test_a_new_output_is_one_sink(bot_window_model, bot_replay, threshold):
    mine, out = Collect(), io.StringIO()
    options = DetectOptions(source=str(bot_replay), stats_every=0, micro_batch=16,
                            threshold=threshold[1])
    res = run_detect(bot_window_model, options, out=out, err=io.StringIO(), sinks=[mine])
    assert mine.started and mine.closed and mine.batches
    alerts = [json.loads(s) for s in out.getvalue().splitlines()]
    assert sum(len(b) for b in mine.batches) == res["alerts"] == len(alerts) > 0
    rows = np.concatenate([b.cols.table.line[b.rows] for b in mine.batches])
    assert rows.tolist() == [a["ltcn"]["line"] for a in alerts]  # the same alerts, in order
    names = [n for b in mine.batches for n in b.class_names()]
    assert names == [a["ltcn"]["class"] for a in alerts]


def test_metrics_options_are_checked():
    assert listen_address("9464") == ("127.0.0.1", 9464)
    assert listen_address(":9464") == ("127.0.0.1", 9464)
    assert listen_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert listen_address("[::1]:9464") == ("::1", 9464)
    for bad in ("0", "65536", "x:", "::1:9464", "[::1]", "host:-1", "a b:1", "host:9464/x"):
        with pytest.raises(GatewayError, match=r"--metrics-listen .* port in 1\.\.65535"):
            DetectOptions(source="-", metrics_listen=bad)
    assert DetectOptions(source="-", metrics_listen="9464").metrics_address == ("127.0.0.1", 9464)
    assert DetectOptions(source="-").metrics_address is None
    with pytest.raises(GatewayError, match=r"--metrics-textfile must end in \.prom"):
        DetectOptions(source="-", metrics_textfile="/tmp/ltcn.txt")


def test_a_busy_port_or_an_unwritable_textfile_is_one_line(tmp_path):
    from ltcn_kernels.gateway.prometheus import MetricsSink

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(GatewayError, match=rf"--metrics-listen 127.0.0.1:{port}: cannot listen"):
            MetricsSink(("127.0.0.1", port))
    with pytest.raises(GatewayError, match=r"--metrics-textfile .*: cannot write"):
        MetricsSink(None, str(tmp_path / "no" / "such" / "dir" / "ltcn.prom"))
    port = _free_port()
    sink = MetricsSink(("127.0.0.1", port))
    try:
        assert sink.port == port
        scraped = _scrape(port)  # before the gateway starts: the process metrics only
        assert scraped is not None and not any(n.startswith("ltcn_") for n, _ in scraped)
    finally:
        sink.close()
    assert _scrape(port) is None and sink.port is None  # closed: stopped cleanly


def test_without_prometheus_client_the_metrics_options_name_the_extra(
    bot_window_model, bot_replay, monkeypatch
):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "ltcn_kernels.gateway.prometheus", raising=False)
    options = DetectOptions(source=str(bot_replay), metrics_listen="9464", stats_every=0)
    with pytest.raises(MissingExtraError, match=r'needs the `metrics` extra .*pip install "ltcn\[metrics\]"'):
        run_detect(bot_window_model, options, out=io.StringIO(), err=io.StringIO())
