"""Fixtures shared by every test module (helpers live in tests/helpers.py)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
