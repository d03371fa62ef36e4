"""Diagnosis (diagnose.sh): preprocessed BoT-IoT inputs and numpy log1p on this machine."""
import sys

import numpy as np

from ltcn_kernels import read_flows
from ltcn_kernels.pipeline import load_model

s, o = sys.argv[1:]
art, pre = load_model(f"{s}/bot.ltcn")
t = read_flows([f"{s}/data_t_subset.csv"], "bot-iot", drop_duplicates=False, progress=False)
x = pre.transform(t, np.arange(len(t)))
np.save(f"{o}/pre_bot.npy", np.ascontiguousarray(x, np.float32))
v = np.linspace(0, 1e6, 100001)
np.save(f"{o}/log1p.npy", np.log1p(v))
