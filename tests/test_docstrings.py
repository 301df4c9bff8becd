"""The runnable examples in the library's docstrings still run and still print what they say."""

import doctest
import importlib
from pathlib import Path

import pytest
import torch

import reproduce

# The modules that carry examples.
MODULES = sorted(p.stem for p in Path(reproduce.__file__).parent.glob("*.py") if ">>>" in p.read_text())


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"reproduce.{name}")
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, (
        f"{result.failed} of {result.attempted} examples in reproduce.{name} failed"
    )
