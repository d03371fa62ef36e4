"""Per-host windows (``DataConfig.stream_key = "saddr"``): the window index, training, the
batch tools, the Flax model and the gateway's per-host streams all build the same windows."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import BOT_ENTIRE
from ltcn_kernels.features.gaps import GAP_FEATURE, IDLE_GAP, add_stream_gaps, stream_gaps
from ltcn_kernels.features.windows import KeyedWindows, causal_windows, keyed_window_index
from ltcn_kernels.gateway import DetectOptions, run_detect
from ltcn_kernels.gateway.classifier import Classifier
from ltcn_kernels.io.flows import read_flows
from ltcn_kernels.pipeline import classify_files, load_model, model_inputs


def _naive_windows(x: np.ndarray, keys, length: int) -> np.ndarray:
    out = np.zeros((len(x), length, x.shape[1]), x.dtype)
    for i in range(len(x)):
        mine = [j for j in range(i + 1) if keys[j] == keys[i]][-length:]
        out[i, length - len(mine) :] = x[mine]
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.integers(1, 6))
def test_keyed_windows_hold_each_keys_last_flows(keys, length):
    rng = np.random.default_rng(len(keys) * 7 + length)
    x = rng.normal(size=(len(keys), 3)).astype(np.float32)
    got = KeyedWindows(x, np.asarray(keys), length)[np.arange(len(keys))]
    np.testing.assert_array_equal(got, _naive_windows(x, keys, length))
    index = keyed_window_index(np.asarray(keys), length)
    assert index.shape == (len(keys), length) and (index[:, -1] == np.arange(len(keys))).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 2000)), min_size=1, max_size=40),
       st.lists(st.integers(1, 40), max_size=4))
def test_stream_gaps_carried_across_batches_equal_the_whole_stream(flows, cuts):
    keys = np.array([f"h{k}" for k, _ in flows], dtype=object)
    times = np.array([t for _, t in flows])
    whole = stream_gaps(times, keys)
    naive = []
    for i in range(len(flows)):  # the previous flow of the same key, in the given order
        before = [times[j] for j in range(i) if keys[j] == keys[i]]
        naive.append(IDLE_GAP if not before else min(max(times[i] - before[-1], 0.0), IDLE_GAP))
    np.testing.assert_array_equal(whole, naive)
    previous, parts = {}, []
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(flows)], strict=True):
        parts.append(stream_gaps(times[a:b], keys[a:b], previous))
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert stream_gaps(np.array([np.nan, 5.0]), np.array([1, 1]))[1] == IDLE_GAP


def test_one_key_is_the_global_window():
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    np.testing.assert_array_equal(KeyedWindows(x, np.zeros(30), 5)[:], causal_windows(x, 5))


@pytest.fixture(scope="module", params=[False, True], ids=["windows", "gaps"])
def host_model(request, tiny_run, tmp_path_factory):
    """A tiny BoT-IoT L-TCN trained on per-host 8-flow windows (and, ``gaps``, with the
    per-host inter-arrival input), exported."""
    from ltcn_jax.data.prepare import DataConfig
    from ltcn_jax.export import export_run

    data = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block",
                      sequence="flows", window=8, stream_key="saddr", fractions=(0.5, 0.2, 0.3),
                      drop_duplicates=False, stream_gap=request.param)
    name = "hosts-gaps" if request.param else "hosts"
    run = tiny_run(name, data, channels=(6, 6), dilations=(1, 2), k=2)
    path = tmp_path_factory.mktemp("hostm") / "m.ltcn"
    export_run(run, path)
    return path


def test_config_refuses_unknown_keys():
    from ltcn_jax.data.prepare import DataConfig

    with pytest.raises(ValueError, match="expected one of '', 'saddr'"):
        DataConfig(dataset="bot-iot", files=("x",), split="time-block", sequence="flows",
                   stream_key="dport")
    with pytest.raises(ValueError, match="needs sequence = 'flows'"):
        DataConfig(dataset="bot-iot", files=("x",), split="time-block", stream_key="saddr")
    with pytest.raises(ValueError, match="stream_gap needs a stream_key"):
        DataConfig(dataset="bot-iot", files=("x",), split="time-block", sequence="flows",
                   stream_gap=True)


def test_batch_windows_are_per_host_and_match_flax(host_model):
    from ltcn_jax.reference import flax_proba

    art, pre = load_model(host_model)
    assert art.manifest["architecture"]["stream_key"] == "saddr"
    table = read_flows(BOT_ENTIRE, "bot-iot", drop_duplicates=False, unknown_label="keep",
                       progress=False)
    order, x, seqs = model_inputs(art, pre, table)
    src = np.asarray(table.strings["saddr"].vocab, dtype=object)[table.strings["saddr"].codes[order]]
    np.testing.assert_array_equal(seqs[np.arange(len(order))], _naive_windows(x, src, 8))
    if GAP_FEATURE in pre.feature_names:  # the gap input: each host's own previous start
        times, want = table.start_times()[order], []
        for i, t in enumerate(times):
            before = [times[j] for j in range(i) if src[j] == src[i]]
            want.append(IDLE_GAP if not before else min(max(t - before[-1], 0.0), IDLE_GAP))
        gaps = add_stream_gaps(table, order, src).features[order, -1]
        np.testing.assert_allclose(gaps, want, rtol=1e-6)
        assert len(np.unique(gaps)) > 10
    sparse = classify_files(art, [BOT_ENTIRE], backend="sparse")
    dense = classify_files(art, [BOT_ENTIRE], backend="dense")
    ref = classify_files(art, [BOT_ENTIRE], proba=flax_proba(art))
    np.testing.assert_allclose(sparse.probs, ref.probs, atol=1e-5)
    np.testing.assert_allclose(dense.probs, ref.probs, atol=1e-5)


def test_gateway_per_host_streams_equal_the_batch_tools(host_model, bot_replay, tmp_path):
    pred = classify_files(host_model, [bot_replay])
    np.testing.assert_array_equal(pred.order, np.arange(len(pred.order)))  # already in order
    normal = pred.classes.index("Normal")
    p_attack = 1.0 - pred.probs[:, normal]
    values = np.unique(np.round(p_attack, 4))  # a threshold in the widest gap near the median
    mid = len(values) // 2
    gap = max(zip(np.diff(values)[max(0, mid - 20) : mid + 20],
                  values[max(0, mid - 20) : mid + 20], strict=False))
    threshold = float(gap[1] + gap[0] / 2)
    want = {int(pred.table.line[pred.order[i]]): pred.probs[i]
            for i in np.flatnonzero(p_attack >= threshold)}
    assert 0 < len(want) < len(p_attack)
    for mb in (1, 7, 10_000):
        out = tmp_path / f"a{mb}.jsonl"
        res = run_detect(host_model, DetectOptions(source=str(bot_replay), alerts=str(out),
                                                   threshold=threshold, micro_batch=mb,
                                                   stats_every=0), err=io.StringIO())
        assert res["engine_mode"] == "hosts" and res["hosts_evicted"] == 0
        alerts = [json.loads(s) for s in out.read_text().splitlines()]
        got = {a["ltcn"]["line"]: a for a in alerts}
        assert set(got) == set(want)
        for line, probs in want.items():
            values = [got[line]["ltcn"]["probabilities"][c] for c in pred.classes]
            np.testing.assert_allclose(values, probs, atol=2e-5)


def test_per_host_state_is_bounded_and_evicts_the_least_recent(host_model):
    art, _ = load_model(host_model)
    clf = Classifier(art, max_hosts=2)
    f = clf.engine.n_features
    x = np.ones((4, f), np.float32)
    clf(x, np.array(["a", "b", "c", "a"], dtype=object))
    assert list(clf.hosts) == ["b", "c"] and clf.evicted == 1  # "a" was least recently updated
    assert clf.host_state_bytes == 2 * (7 * f * 4 + 8 * clf.uses_gap)
    if clf.uses_gap:  # the hosts' last flow starts are bounded the same way
        table = read_flows(BOT_ENTIRE, "bot-iot", drop_duplicates=False, unknown_label="keep",
                           progress=False).take(np.arange(6))
        keys = np.array(["a", "b", "c", "a", "b", "c"], dtype=object)
        with_gaps = clf.add_gaps(table, np.arange(6), keys)
        assert with_gaps.feature_names[-1] == GAP_FEATURE and list(clf.last_start) == ["b", "c"]
        assert with_gaps.features[:3, -1].tolist() == [IDLE_GAP] * 3
    assert all(h.shape == (7, f) for h in clf.hosts.values())
    # the forgotten host starts again from zero flows; a kept one continues from its history
    y = np.random.default_rng(0).uniform(0, 1, (5, f)).astype(np.float32)
    fresh = Classifier(art)(y[4:], np.array(["z"], dtype=object))
    np.testing.assert_array_equal(clf(y[4:], np.array(["a"], dtype=object)), fresh)
    clf(y[:4], np.array(["q"] * 4, dtype=object))
    assert not np.allclose(clf(y[4:], np.array(["q"], dtype=object)), fresh, atol=1e-3)
    with pytest.raises(Exception, match="one source address per flow"):
        clf(x)


def test_final_stats_line_is_the_returned_result_with_evicted_hosts(host_model, bot_replay):
    """The final line a log keeps says what the caller gets: the engine mode, the hosts
    forgotten (a small --max-hosts forgets some) and the alert rotations included."""
    err = io.StringIO()
    res = run_detect(host_model, DetectOptions(source=str(bot_replay), max_hosts=2,
                                               stats_every=0), out=io.StringIO(), err=err)
    assert res["engine_mode"] == "hosts" and res["hosts_evicted"] > 0
    final = [s for s in err.getvalue().splitlines() if s.startswith("ltcn detect final: ")]
    assert len(final) == 1
    assert json.loads(final[0].split(": ", 1)[1]) == res
