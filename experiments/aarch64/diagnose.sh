#!/bin/bash
# Where do x86 and arm64 differ? Run after check.sh (root): the preprocessed inputs and
# numpy's log1p on both, then the arm64 engine on the x86 preprocessed inputs.
# Writes $CACHE/stage/diagnosis.json, which parity.py compare folds into results/aarch64/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${AARCH64_CACHE:-/var/cache/ltcn-aarch64}
PY=${PYTHON:-$REPO/.venv/bin/python}
R=$CACHE/run S=/srv/ltcn-stage
X=$CACHE/stage/diag-x86 && rm -rf "$X" && mkdir -p "$X" "$R$S/diag"
cp "$REPO"/experiments/aarch64/diag_*.py "$R$S/"
"$PY" "$REPO/experiments/aarch64/diag_pre.py" "$CACHE/stage" "$X"
cp "$X/pre_bot.npy" "$R$S/pre_bot_x86.npy" && cp "$X/pre_bot.npy" "$CACHE/stage/pre_bot_x86.npy"
"$PY" "$REPO/experiments/aarch64/diag_engine.py" "$CACHE/stage" "$X"
mount -t proc proc "$R/proc"; mount --bind /dev "$R/dev"
trap 'umount "$R/dev" "$R/proc"' EXIT
for s in diag_pre.py diag_engine.py; do
  nice -n 19 taskset -c 0 chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /opt/ltcn/bin/python "$S/$s" "$S" "$S/diag"
done
"$PY" - "$X" "$R$S/diag" "$CACHE/stage/diagnosis.json" <<'PY'
import json, sys
import numpy as np
x, a, out = sys.argv[1:]
d = lambda n: int((np.load(f"{x}/{n}") != np.load(f"{a}/{n}")).sum())
res = {"log1p_float64_values_different_of_100001": d("log1p.npy"),
       "preprocessed_bot_float32_values_different": d("pre_bot.npy"),
       "preprocessed_bot_values": int(np.load(f"{x}/pre_bot.npy").size),
       "engine_on_identical_inputs_values_different": {b: d(f"eng_{b}.npy") for b in ("sparse", "dense")}}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res))
PY
