"""Fixtures shared by the package tests."""
from collections.abc import Iterator

import pytest
import torch


def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test (reproducible float sums), the old count restored after."""
    yield from _threads(1)


@pytest.fixture(scope="module")
def one_thread_module() -> Iterator[None]:
    """One torch thread for a whole test module, the old count restored after it."""
    yield from _threads(1)
