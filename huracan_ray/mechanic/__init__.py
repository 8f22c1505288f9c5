"""Mechanic: causal features, labels, forward-only splits, train-window scaling, regimes."""
