set -x
nvidia-smi --query-gpu=name,memory.total --format=csv
mkdir -p /tmp/p && ln -sfn $PWD/kernels /tmp/p/ltcn_kernels
export PYTHONPATH=/tmp/p:$PWD PYTHONUNBUFFERED=1 LTCN_CACHE_DIR=/tmp/cache
python3 -c "import jax, flax, optax, numba, sklearn; print(jax.__version__, flax.__version__, jax.devices())"

time python3 -m ltcn_jax.cli run experiments/nsl_kdd_quickstart.py --out /tmp/runs/quickstart_gpu 2>&1 | grep -v "^train:" | tail -3
time LTCN_DATA=.gpu_data python3 -m ltcn_jax.cli run experiments/paper_scale.py --set train.epochs=3 --set train.patience=3 --out /tmp/runs/paper_scale_gpu 2>&1 | grep -v "^train:" | tail -3
python3 - <<'PY'
import json, os
for n in ("quickstart_gpu", "paper_scale_gpu"):
    p = os.path.join("/tmp/runs", n, "metrics.json")
    if os.path.exists(p):
        m = json.load(open(p))
        print(n, "params", m["params"], "train_s", m["train_seconds"], "epochs", [round(h["seconds"],2) for h in m["history"]], "acc", m["test"]["accuracy"], "f1", m["test"]["f1_macro"])
PY
for n in quickstart_gpu paper_scale_gpu; do cp /tmp/runs/$n/metrics.json $OUT/$n.metrics.json 2>/dev/null; done
