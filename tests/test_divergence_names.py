"""Tests for the names ``register_divergence`` accepts (fdpo/divergences.py): a name is the first part of a run id
and a folder name, so only plain words are registered."""

from __future__ import annotations

import pytest

from fdpo.divergences import FDivergence, list_divergences, register_divergence


@pytest.mark.parametrize("name", ["..", ".", "a/b", "x__y", "1st", "my kl", "kl\n", "ünï"])
def test_register_refuses_names_that_cannot_name_a_run(name):
    """The name is a run id's first part and a folder name: '..' would train a run missing from results.csv."""
    bad = type("Bad", (FDivergence,), {"name": name})
    with pytest.raises(ValueError, match="not a valid divergence name.*letter"):
        register_divergence(bad)
    assert name not in list_divergences()
