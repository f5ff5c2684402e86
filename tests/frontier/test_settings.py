"""Tests for fdpo/frontier/settings.py: the frontier section of a sweep config, and bad settings refused before
anything is loaded."""

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


def test_frontier_config_splits_the_frontier_section_from_the_sweep_and_applies_overrides():
    from fdpo.frontier.settings import FrontierSettings, frontier_config

    data = {
        "sft_model": "org/sft",
        "reward_model": "org/reward",
        "prompts": {"texts": ["p"]},
        "frontier": {"temperatures": [0.9], "divpo": []},
    }
    config, settings = frontier_config(
        data, ["frontier.interpolation=[2.0]", "grid.seeds=[3]"], check_models=False
    )
    assert settings == FrontierSettings(temperatures=[0.9], divpo=[], interpolation=[2.0])
    assert config.grid.seeds == [3] and config.sft_model == "org/sft"
    assert "frontier" in data  # the caller's dict is left as it was
