"""A new model is taken only on SIGHUP, verified first and swapped whole, or refused with the
running model kept (issue 27, section 1)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, REPO
from ltcn_kernels.engine.artifact import read_artifact, write_artifact
from ltcn_kernels.errors import DataFormatError
from ltcn_kernels.gateway import DetectOptions
from ltcn_kernels.gateway.alertfile import AlertWriter
from ltcn_kernels.gateway.loop import Gateway
from ltcn_kernels.pipeline import load_model

SHIPPED = REPO / "results" / "lab" / "model.ltcn"  # per-host windows with the gap input
PER_FLOW = REPO / "results" / "gateway-captures" / "model.ltcn"  # the BoT-IoT per-flow model
_COMPUTED = ("schema_version", "arrays", "file_bytes", "manifest_sha256")


def _rewritten(src, dst, **changes):
    """``src``'s weights in a new file whose manifest differs by ``changes`` (another model
    file of the same network, as a retrained export would be)."""
    a = read_artifact(src)
    manifest = {k: v for k, v in a.manifest.items() if k not in _COMPUTED}
    manifest.update(changes)
    write_artifact(dst, manifest, {k: np.array(v) for k, v in a.arrays.items()})


def _gateway(path, tmp_path, **options):
    err = io.StringIO()
    opts = DetectOptions(source=str(FIXTURES / "bot-iot" / "site_alexa_flows.csv"),
                         allow_unsigned=True, stats_every=0, **options)
    gw = Gateway(load_model(path), opts, alerts=AlertWriter(None, stream=io.StringIO(), err=err),
                 err=err)
    return gw, err


def test_a_verified_new_model_is_taken_on_reload(tmp_path):
    path = tmp_path / "m.ltcn"
    shutil.copy(SHIPPED, path)
    gw, err = _gateway(path, tmp_path)
    before = gw.artifact.manifest["manifest_sha256"]
    gw.reload_model()  # the same file: nothing happens
    assert gw.stats.model_reloads == 0 and err.getvalue() == ""
    _rewritten(SHIPPED, tmp_path / "new.ltcn", source={"note": "retrained"})
    (tmp_path / "new.ltcn").replace(path)  # installed by rename
    gw.reload_model()
    assert gw.stats.model_reloads == 1 and "model reloaded" in err.getvalue()
    assert gw.artifact.manifest["manifest_sha256"] != before
    assert gw.snapshot()["model_reloads"] == 1


@pytest.mark.parametrize("case", ["damaged", "another model kind", "site baseline"])
def test_a_model_that_does_not_verify_or_fit_is_refused_and_the_old_one_runs(case, tmp_path):
    path = tmp_path / "m.ltcn"
    shutil.copy(SHIPPED, path)
    if case == "site baseline":
        from ltcn_kernels.gateway.site import Site

        gw, err = _gateway(path, tmp_path)
        gw.site = Site(str(tmp_path / "state"), gw.artifact.manifest["manifest_sha256"], 0.5,
                       learn_s=60.0)
        _rewritten(SHIPPED, path, source={"note": "retrained"})
        message = "site baseline is in use"
    else:
        gw, err = _gateway(path, tmp_path)
        if case == "damaged":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])  # cut short in place
            message = "truncated"
        else:
            shutil.copy(PER_FLOW, path)
            message = "classes differ"
    running = gw.artifact.manifest["manifest_sha256"]
    gw.reload_model()
    assert gw.stats.model_reloads == 0
    assert "model reload refused, the running model stays" in err.getvalue()
    assert message in err.getvalue()
    assert gw.artifact.manifest["manifest_sha256"] == running
    x = np.zeros((3, gw.classify.engine.n_features), np.float32)
    assert gw.classify(x, np.array(["10.0.0.1"] * 3)).shape == (3, len(gw.classes))


def test_sighup_takes_a_model_installed_by_rename(tmp_path):
    """The running `ltcn detect --follow` is sent SIGHUP after a new model is installed over
    its path by rename: it says so and goes on; then SIGTERM ends it with its final line."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "m.ltcn"
    shutil.copy(SHIPPED, path)
    src = tmp_path / "flows.csv"
    src.write_text((FIXTURES / "bot-iot" / "site_alexa_flows.csv").read_text())
    cmd = [sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model", str(path),
           "--allow-unsigned", "--source", str(src), "--follow", "--alerts",
           str(tmp_path / "a.json"), "--stats-every", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if (tmp_path / "a.json").exists() and (tmp_path / "a.json").stat().st_size:
                break
        _rewritten(SHIPPED, tmp_path / "new.ltcn", source={"note": "retrained"})
        os.replace(tmp_path / "new.ltcn", path)
        proc.send_signal(signal.SIGHUP)
        time.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "model reloaded from" in err and '"model_reloads":1' in err


def test_a_manifest_that_feeds_the_network_wrongly_is_refused_at_load(tmp_path):
    """A re-hashed (or re-signed) manifest whose sequence does not fit the network used to be
    a ValueError about shapes in predict, evaluate and detect; it is refused when loaded."""
    a = read_artifact(PER_FLOW)
    arch = dict(a.manifest["architecture"], sequence="features")
    _rewritten(PER_FLOW, tmp_path / "m.ltcn", architecture=arch)
    with pytest.raises(DataFormatError, match="takes 64 input channels, but its preprocessing"):
        load_model(tmp_path / "m.ltcn")
