"""The Optuna study over the knobs: space, trial evaluation, selection beyond noise, recommendation."""
