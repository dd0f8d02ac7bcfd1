"""Shared test settings."""

import torch

# The models in the tests are tiny: one thread is faster and keeps timings steady on a busy 2-core machine.
torch.set_num_threads(1)
