"""A named pipe as --source (issue 27, section 4): with no writer it used to block in open(),
deaf to --max-seconds and SIGTERM; it now waits a poll at a time, reads what a writer writes,
ends when the writer closes (or, with --follow, waits for the next one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import FIXTURES, REPO

MODEL = REPO / "results" / "lab" / "model.ltcn"
FLOWS = FIXTURES / "bot-iot" / "site_alexa_flows.csv"


def _detect(source, tmp_path, *extra):
    cmd = [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(MODEL),
           "--allow-unsigned", "--source", str(source), "--alerts", str(tmp_path / "a.json"),
           "--stats-every", "0", *extra]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)


def _final(err: str) -> dict:
    line = [ln for ln in err.splitlines() if ln.startswith("ltcn detect final: ")]
    assert line, err
    return json.loads(line[-1].split(": ", 1)[1])


def test_a_fifo_without_a_writer_honours_max_seconds_and_sigterm(tmp_path):
    fifo = tmp_path / "flows.pipe"
    os.mkfifo(fifo)
    proc = _detect(fifo, tmp_path, "--max-seconds", "3")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and _final(err)["flows"] == 0
    proc = _detect(fifo, tmp_path)
    time.sleep(6)  # (compiled or loaded by then, and waiting for a writer)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and _final(err)["flows"] == 0


def test_a_fifo_is_read_whole_and_ends_when_its_writer_closes(tmp_path):
    plain = _detect(FLOWS, tmp_path)
    _, err = plain.communicate(timeout=120)
    expected = _final(err)
    fifo = tmp_path / "flows.pipe"
    os.mkfifo(fifo)
    proc = _detect(fifo, tmp_path)

    def write():
        time.sleep(1.0)
        with open(fifo, "wb") as f:  # (waits for the reader to open its end)
            f.write(FLOWS.read_bytes())

    threading.Thread(target=write, daemon=True).start()
    _, err = proc.communicate(timeout=120)
    got = _final(err)
    assert proc.returncode == 0
    assert got["flows"] == expected["flows"] == 167  # every record, none lost to a sniff
    assert got["alerts"] == expected["alerts"]
