"""Fixtures shared by every test module (helpers live in tests/helpers.py)."""
import os.path as osp
import sys

import pytest
import torch

# the analysis code of tools/analysis_tools/, importable as ``analysis_lib``
# as it is for the tools themselves
_ANALYSIS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
                     'analysis_tools')
if _ANALYSIS not in sys.path:
    sys.path.insert(0, _ANALYSIS)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
