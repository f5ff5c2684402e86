"""Tests for the old import paths of moved modules (fdpo/__init__.py, ``_MOVED_MODULES``): they keep working for a
release, warn with the new path, and give the new module's own objects."""

from __future__ import annotations

import importlib
import sys

import pytest

import fdpo


@pytest.fixture
def forget(monkeypatch):
    """Forgets that an old path was imported (in this test only), so that importing it runs the finder again."""

    def forget_(old: str) -> None:
        parent, _, name = old.rpartition(".")
        importlib.import_module(parent)
        monkeypatch.delitem(sys.modules, old, raising=False)
        monkeypatch.delattr(sys.modules[parent], name, raising=False)

    return forget_


@pytest.mark.parametrize(("old", "new"), sorted(fdpo._MOVED_MODULES.items()))
def test_an_old_path_warns_and_gives_the_new_module(old, new, forget):
    forget(old)
    with pytest.warns(FutureWarning, match=rf"{old} has moved to {new}: import {new} instead"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__.name == new and module.__name__ == new  # the new module keeps its own identity


def test_old_import_statements_work(forget):
    for old in ("fdpo.data", "fdpo.stages", "fdpo.evaluation", "fdpo.sweep.errors"):
        forget(old)
    with pytest.warns(FutureWarning) as caught:
        import fdpo.data
        from fdpo.evaluation import METRIC_NAMES, evaluate_policy
        from fdpo.stages import train_policy
        from fdpo.sweep.errors import SweepConfigError
    assert {str(w.message).split()[0] for w in caught} == {
        "fdpo.data",
        "fdpo.stages",
        "fdpo.evaluation",
        "fdpo.sweep.errors",
    }
    assert all(w.filename == __file__ for w in caught)  # attributed to the importing line

    import fdpo.errors
    import fdpo.pairs
    import fdpo.pipeline
    import fdpo.settings

    assert fdpo.data is fdpo.pairs
    assert train_policy is fdpo.pipeline.train_policy
    assert evaluate_policy is fdpo.pipeline.evaluate_policy and METRIC_NAMES is fdpo.settings.METRIC_NAMES
    assert SweepConfigError is fdpo.errors.SweepConfigError


def test_a_path_that_never_existed_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("fdpo.no_such_module")
