"""From flow tables to model inputs: the frozen preprocessing and causal windows."""
