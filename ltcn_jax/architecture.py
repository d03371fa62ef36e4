"""Pure (framework-free) facts about the L-TCN architecture.

Kept out of `models.py` so that the edge engine and the complexity accounting can use them
without importing Flax.
"""

from __future__ import annotations

from collections.abc import Sequence


def receptive_field(kernel_size: int, dilations: Sequence[int], convs_per_block: int) -> int:
    """Number of input time steps that can influence one output step of the L-TCN.

    Every causal convolution with kernel ``k`` and dilation ``d`` looks ``d * (k - 1)`` steps
    further into the past; the 1x1 residual convolutions add nothing. Block ``i`` applies
    ``convs_per_block`` convolutions that all use ``dilations[i]``.

    Args:
        kernel_size: temporal kernel size ``k`` of every dilated convolution.
        dilations: one dilation per residual block.
        convs_per_block: dilated convolutions inside each block.

    Returns:
        ``1 + convs_per_block * (kernel_size - 1) * sum(dilations)``.
    """
    if kernel_size < 1 or convs_per_block < 1:
        raise ValueError("kernel_size and convs_per_block must be >= 1")
    if any(d < 1 for d in dilations):
        raise ValueError(f"dilations must be >= 1, got {tuple(dilations)}")
    return 1 + convs_per_block * (kernel_size - 1) * sum(int(d) for d in dilations)
