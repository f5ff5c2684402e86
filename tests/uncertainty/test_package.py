"""Tests for fdpo/uncertainty/__init__.py: every public name of the package's modules imports from the package."""

from __future__ import annotations

import importlib

import pytest

import fdpo.uncertainty


@pytest.mark.parametrize("module", ["resampling", "estimates", "claims", "inference", "matching"])
def test_every_public_name_is_reexported(module):
    names = set(importlib.import_module(f"fdpo.uncertainty.{module}").__all__) - {"Method"}
    assert names <= set(fdpo.uncertainty.__all__)
    for name in names:
        assert getattr(fdpo.uncertainty, name) is getattr(
            importlib.import_module(f"fdpo.uncertainty.{module}"), name
        )
