"""The alert file follows its name (issue 27, section 4): removed or renamed away without a
SIGHUP, it is opened anew before the next batch (lines no longer go to a file nobody sees);
a symbolic link planted at its path on SIGHUP is refused with a warning, and the detector
keeps writing to the file it has instead of ending."""

from __future__ import annotations

import io
import os

from ltcn_kernels.gateway.alertfile import AlertWriter


def _write(w: AlertWriter, text: str) -> None:
    data = (text + "\n").encode()
    w.write_lines(data, [len(data)])


def test_a_removed_alert_file_is_made_again_before_the_next_batch(tmp_path):
    path = tmp_path / "alerts.jsonl"
    w = AlertWriter(str(path), err=io.StringIO())
    _write(w, "one")
    path.unlink()
    _write(w, "two")
    assert path.read_text() == "two\n" and w.reopens == 1 and w.lost == 0
    w.close()


def test_a_file_renamed_away_without_sighup_is_followed_by_name(tmp_path):
    path, moved = tmp_path / "alerts.jsonl", tmp_path / "alerts.jsonl.1"
    w = AlertWriter(str(path), err=io.StringIO())
    _write(w, "one")
    os.replace(path, moved)
    _write(w, "two")
    assert moved.read_text() == "one\n" and path.read_text() == "two\n"
    w.close()


def test_a_link_planted_at_the_path_on_sighup_is_refused_and_writing_goes_on(tmp_path):
    path, moved = tmp_path / "alerts.jsonl", tmp_path / "alerts.jsonl.1"
    target = tmp_path / "elsewhere"
    target.write_text("")
    err = io.StringIO()
    w = AlertWriter(str(path), err=err)
    _write(w, "one")
    os.replace(path, moved)
    path.symlink_to(target)
    w.reopen()  # (what SIGHUP does)
    _write(w, "two")  # a batch: the link is not followed, the open file takes the line
    assert "not reopened" in err.getvalue() and "symbolic link" in err.getvalue()
    assert w.reopens_refused == 1 and w.reopens == 0
    assert moved.read_text() == "one\ntwo\n" and target.read_text() == ""
    w.close()


def test_a_flow_log_removed_without_sighup_starts_again_with_its_header(tmp_path):
    from ltcn_kernels.gateway.flowlog import FLOW_HEADER, FlowLog

    path = tmp_path / "flows.csv"
    log = FlowLog(str(path), err=io.StringIO())
    log.write(FLOW_HEADER + b"\n1,a\n")
    path.unlink()
    log.write(b"2,b\n")
    assert path.read_bytes() == FLOW_HEADER + b"\n2,b\n"
    log.close()
