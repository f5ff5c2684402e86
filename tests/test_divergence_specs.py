"""Tests for fdpo/_divergence_specs.py: spec strings ("alpha:0.3", "alpha:alpha=0.3") read through get_divergence."""

from __future__ import annotations

import re

import pytest

from fdpo._divergence_specs import constructor_parameters, parse_spec
from fdpo.divergences import AlphaDivergence, ForwardKL, get_divergence
from fdpo.errors import InputError


def test_alpha_spec_forms_agree():
    assert (
        get_divergence("alpha:0.3") == get_divergence("alpha", alpha=0.3) == get_divergence("alpha:alpha=0.3")
    )
    assert get_divergence("alpha:0.3").spec == "alpha:0.3"
    assert get_divergence("alpha:0.3") != get_divergence("alpha:0.7")


@pytest.mark.parametrize(
    "spec,words",
    [
        # each of these once resolved silently: to α = 0.7, α = 0.4 and the default α = 0.5
        ("alpha:0.3,0.7", "gives more than one value"),
        ("alpha:alpha=0.2,alpha=0.4", "sets alpha twice"),
        ("alpha:0.3,alpha=0.4", "sets alpha twice"),
        ("alpha:", "has a ':' but no parameter after it"),
        ("alpha: ", "has a ':' but no parameter after it"),
        ("reverse_kl:", "has a ':' but no parameter after it"),
        ("alpha:0.3,", "has an empty parameter"),
        ("alpha:,0.3", "has an empty parameter"),
        ("alpha:alpha=", "incomplete parameter"),
        ("alpha:=0.3", "incomplete parameter"),
        ("alpha:beta=0.3", "beta unknown; it takes only alpha"),
        ("forward_kl:0.3", "takes no parameter without a name"),
        ("forward_kl:scale=2", "scale unknown; it takes no parameter"),
    ],
)
def test_ambiguous_or_malformed_specs_are_refused(spec, words):
    with pytest.raises(InputError, match=re.escape(words)) as error:
        get_divergence(spec)
    assert repr(spec) in str(error.value)


def test_constructor_parameters_name_what_init_accepts():
    class Free:
        def __init__(self, **options):
            pass

    class Positional:
        def __init__(self, scale, *args, shift=0.0):
            pass

    assert constructor_parameters(AlphaDivergence) == ["alpha"]
    assert constructor_parameters(ForwardKL) == []  # no __init__ of its own
    assert constructor_parameters(Free) is None  # **kwargs: anything goes
    assert constructor_parameters(Positional) == ["scale", "shift"]


def test_parse_spec_reads_numbers_and_keeps_text():
    assert parse_spec("alpha", AlphaDivergence, " 0.25 ", "alpha: 0.25 ") == {"alpha": 0.25}
    assert parse_spec("alpha", AlphaDivergence, "alpha=x", "alpha:alpha=x") == {"alpha": "x"}
