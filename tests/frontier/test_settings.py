"""Tests for fdpo/frontier/settings.py: bad frontier settings are refused before anything is loaded."""

from __future__ import annotations

import pytest


def test_frontier_settings_refuse_bad_values():
    from fdpo.frontier.settings import FrontierSettings
    from fdpo.sweep import SweepConfigError

    with pytest.raises(SweepConfigError, match="unknown frontier setting.*temperature"):
        FrontierSettings.from_dict({"temperature": [0.8]})
    with pytest.raises(SweepConfigError, match=r"temperatures has \[0\]; give finite numbers > 0"):
        FrontierSettings.from_dict({"temperatures": [0]})
    with pytest.raises(SweepConfigError, match=r"divpo_quantiles must be a list of numbers in \(0, 0.5\]"):
        FrontierSettings.from_dict({"divpo_quantiles": [0.25, 0.7]})
    with pytest.raises(SweepConfigError, match="lever_bases"):
        FrontierSettings.from_dict({"lever_bases": ["forward_kl"]})
    with pytest.raises(SweepConfigError, match="interpolation has duplicates"):
        FrontierSettings.from_dict({"interpolation": [0.5, 0.5]})
