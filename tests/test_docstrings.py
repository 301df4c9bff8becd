"""The runnable examples in the library's docstrings still run and still print what they say."""

import doctest
import importlib
from pathlib import Path

import pytest
import torch

import reproduce

# The modules that carry examples, subpackages included.
ROOT = Path(reproduce.__file__).parent
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in ROOT.rglob("*.py") if ">>>" in p.read_text()
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"reproduce.{name}")
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, (
        f"{result.failed} of {result.attempted} examples in reproduce.{name} failed"
    )
