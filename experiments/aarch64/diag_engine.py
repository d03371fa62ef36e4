"""Diagnosis (diagnose.sh): the engine on the x86 preprocessed BoT-IoT inputs."""
import sys

import numpy as np

from ltcn_kernels.engine import predict_proba_windows
from ltcn_kernels.engine.artifact import engine_model
from ltcn_kernels.pipeline import load_model

s, o = sys.argv[1:]
art, pre = load_model(f"{s}/bot.ltcn")
x = np.load(f"{s}/pre_bot_x86.npy")  # the x86 preprocessed inputs
for b in ("sparse", "dense"):
    e = engine_model(art, b)
    np.save(f"{o}/eng_{b}.npy", predict_proba_windows(e, np.ascontiguousarray(x[:, None, :])))
