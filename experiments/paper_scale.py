"""Paper-scale L-TCN: dense parameter count close to the source paper's unpruned model.

Run:  LTCN_DATA=DATA ltcn run experiments/paper_scale.py
      (2 CPU cores: about 30-60 min; meant for a GPU, or for the latency benchmarks, which
      need the architecture and not a trained model)

Channels 192/288/352/352 (kernel 3, dilations 1/2/4/8, 2 convolutions per block) on the
CICIDS2017 samples' 118 features per flow: 2.2 M parameters, 8.8 MB in fp32 -- the paper
reports 8.8 MB unpruned. Used to compare latency at the paper's scale as well as at ours.
"""

import dataclasses

import cicids2017_samples as default

from ltcn_jax.models import paper_scale_ltcn_kwargs


def get_config():
    config = default.get_config()
    return dataclasses.replace(
        config,
        name="paper_scale",
        description="Paper-scale L-TCN (2.2 M parameters) on the CICIDS2017 samples.",
        model=dataclasses.replace(config.model, kwargs={**config.model.kwargs, **paper_scale_ltcn_kwargs()}),
    )
