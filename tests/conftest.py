import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: A CPU-sized RevColV2 arch used across the tests.
TINY_V2 = dict(embed_dims=32, num_heads=2, bu_columns=2, bu_depth=4,
               td_columns=2, td_depth=4)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
