"""Tests for fdpo/config.py: FDPOConfig's fields, its validation, the α mapping to TRL, and serialization."""

from __future__ import annotations

import json
import re

import pytest
from transformers import HfArgumentParser
from trl import DPOConfig

from fdpo.config import FDPOConfig
from fdpo.divergences import AlphaDivergence, ForwardKL, ReverseKL, get_divergence, list_divergences
from fdpo.errors import InputError


def _config(tmp_path, **kwargs) -> FDPOConfig:
    return FDPOConfig(output_dir=str(tmp_path), report_to="none", bf16=False, **kwargs)


def test_defaults_are_standard_dpo(tmp_path):
    config = _config(tmp_path)
    assert config.divergence == "reverse_kl"
    assert config.alpha is None
    assert config.get_divergence() == ReverseKL()
    assert config.loss_type == ["sigmoid"]
    assert config.f_divergence_type == "reverse_kl"  # TRL's own stays off


@pytest.mark.parametrize("name", list_divergences())
def test_every_registered_divergence_is_accepted_by_name(tmp_path, name):
    config = _config(tmp_path, divergence=name)
    assert config.get_divergence() == get_divergence(name)
    assert get_divergence(config.divergence) == config.get_divergence()  # the stored spec resolves back


@pytest.mark.parametrize(
    "divergence,alpha,spec,stored_alpha",
    [
        ("alpha", 0.3, "alpha:0.3", 0.3),
        ("alpha:0.7", None, "alpha:0.7", 0.7),
        ("alpha:0.7", 0.7, "alpha:0.7", 0.7),
        (" alpha : 0.25 ", None, "alpha:0.25", 0.25),
        ("alpha", None, "alpha:0.5", 0.5),  # AlphaDivergence's default α, made explicit
        ("forward_kl", None, "forward_kl", None),
    ],
)
def test_divergence_and_alpha_are_normalized(tmp_path, divergence, alpha, spec, stored_alpha):
    config = _config(tmp_path, divergence=divergence, alpha=alpha)
    assert config.divergence == spec
    assert config.alpha == stored_alpha
    if stored_alpha is not None:
        assert config.get_divergence() == AlphaDivergence(stored_alpha)


def test_an_instance_is_stored_as_its_spec(tmp_path):
    config = _config(tmp_path, divergence=AlphaDivergence(0.2))
    assert config.divergence == "alpha:0.2"
    assert config.get_divergence() == AlphaDivergence(0.2)
    assert _config(tmp_path, divergence=ForwardKL()).divergence == "forward_kl"


def test_unknown_divergence_lists_the_registered_ones(tmp_path):
    with pytest.raises(ValueError, match="no_such_divergence") as error:
        _config(tmp_path, divergence="no_such_divergence")
    for name in list_divergences():
        assert name in str(error.value)


def test_divergences_outside_the_theorem_are_refused(tmp_path):
    with pytest.raises(ValueError, match="total_variation"):
        _config(tmp_path, divergence="total_variation")


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, -0.1])
def test_alpha_outside_the_open_unit_interval_names_the_value(tmp_path, alpha):
    with pytest.raises(ValueError, match=f"got {alpha!r}"):
        _config(tmp_path, divergence="alpha", alpha=alpha)
    with pytest.raises(ValueError, match=f"got {alpha!r}"):
        _config(tmp_path, divergence=f"alpha:{alpha!r}")


def test_alpha_without_an_alpha_divergence_is_refused(tmp_path):
    with pytest.raises(
        ValueError, match=r"alpha=0\.3 is set but divergence='reverse_kl' has no alpha parameter"
    ):
        _config(tmp_path, alpha=0.3)


def test_alpha_given_twice_must_agree(tmp_path):
    with pytest.raises(ValueError, match=r"divergence='alpha:0.3' and alpha=0.4 disagree"):
        _config(tmp_path, divergence="alpha:0.3", alpha=0.4)


@pytest.mark.parametrize(
    "trl_type,coef,ours",
    [
        ("forward_kl", 0.5, "forward_kl"),
        ("js_divergence", 0.5, "jensen_shannon"),
        ("alpha_divergence", 0.7, "alpha:0.3"),
    ],
)
def test_trl_f_divergence_is_refused_with_our_equivalent(tmp_path, trl_type, coef, ours):
    """TRL's f_alpha_divergence_coef is 1 − our α: the error names the divergence= to use instead."""
    with pytest.raises(ValueError, match=f"f_divergence_type='{trl_type}'") as error:
        _config(tmp_path, f_divergence_type=trl_type, f_alpha_divergence_coef=coef)
    assert f"divergence='{ours}'" in str(error.value)


def test_trl_alpha_coefficient_alone_is_refused_with_the_mapping(tmp_path):
    with pytest.raises(ValueError, match=r"f_alpha_divergence_coef=0\.2.*alpha=0\.8"):
        _config(tmp_path, f_alpha_divergence_coef=0.2)


@pytest.mark.parametrize("loss_type", ["robust", "exo_pair", "sppo_hard", "apo_zero", "sigmoid_norm", "sft"])
def test_losses_without_an_f_divergence_form_are_refused(tmp_path, loss_type):
    with pytest.raises(ValueError, match=f"loss_type='{loss_type}'.*sigmoid, hinge, ipo"):
        _config(tmp_path, loss_type=loss_type)


def test_several_loss_types_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"exactly one loss_type, got \['sigmoid', 'hinge'\]"):
        _config(tmp_path, loss_type=["sigmoid", "hinge"], loss_weights=[1.0, 1.0])


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_supported_loss_types_are_normalized_to_a_list(tmp_path, loss_type):
    assert _config(tmp_path, loss_type=loss_type).loss_type == [loss_type]
    assert _config(tmp_path, loss_type=[loss_type], loss_weights=[1.0]).loss_type == [loss_type]


@pytest.mark.parametrize("beta", [0.0, -0.1, float("nan"), float("inf")])
def test_beta_must_be_positive_and_finite(tmp_path, beta):
    with pytest.raises(ValueError, match=r"beta=.* must be a finite number > 0"):
        _config(tmp_path, beta=beta)


@pytest.mark.parametrize(
    "name,value",
    [
        ("loss_weights", [0.5]),
        ("ld_alpha", 0.5),
        ("use_weighting", True),
        ("label_smoothing", 0.1),
        ("discopop_tau", 0.1),
        ("padding_free", True),
    ],
)
def test_settings_the_loss_cannot_honour_are_refused(tmp_path, name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name}={value!r}")):
        _config(tmp_path, **{name: value})


def test_validate_catches_changes_after_construction(tmp_path):
    config = _config(tmp_path)
    config.loss_type = ["bco_pair"]
    with pytest.raises(ValueError, match="bco_pair"):
        config.validate()


def test_round_trip_through_to_dict_and_the_argument_parser(tmp_path):
    config = _config(tmp_path, divergence="alpha", alpha=0.3, loss_type="hinge", beta=0.05)
    serialized = config.to_dict()
    assert serialized["divergence"] == "alpha:0.3" and serialized["alpha"] == 0.3
    json.loads(config.to_json_string())
    # to_dict masks fields whose names end in "_token" (hub_token, pad_token), so those are not fed back.
    (restored,) = HfArgumentParser(FDPOConfig).parse_dict(
        {key: value for key, value in serialized.items() if not key.endswith("_token")}
    )
    assert restored.to_dict() == serialized
    assert restored.get_divergence() == AlphaDivergence(0.3)


def test_command_line_parsing(tmp_path):
    parser = HfArgumentParser(FDPOConfig)
    (config,) = parser.parse_args_into_dataclasses(
        [
            "--output_dir",
            str(tmp_path),
            "--bf16",
            "false",
            "--divergence",
            "alpha",
            "--alpha",
            "0.9",
            "--loss_type",
            "ipo",
        ]
    )
    assert config.divergence == "alpha:0.9" and config.alpha == 0.9 and config.loss_type == ["ipo"]
    help_text = parser.format_help()
    assert "--divergence" in help_text and "--alpha" in help_text
    with pytest.raises(ValueError, match="no_such_divergence"):
        parser.parse_args_into_dataclasses(
            ["--output_dir", str(tmp_path), "--divergence", "no_such_divergence"]
        )


# bf16: on only where the hardware supports it, unless the user says otherwise


def _pretend_bf16_hardware(monkeypatch, supported: bool) -> None:
    """Makes both our check and TrainingArguments' own check see (or not see) a bf16-capable accelerator."""
    import transformers.training_args

    monkeypatch.setattr("fdpo.config.bf16_supported", lambda: supported)
    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: supported)


def test_the_readme_snippet_runs_on_this_machine_and_picks_bf16_from_the_hardware(tmp_path):
    """TRL's DPOConfig turns bf16 on everywhere and refuses a CPU-only machine; ours asks the hardware."""
    from fdpo.config import bf16_supported

    config = FDPOConfig(output_dir=str(tmp_path), divergence="jensen_shannon", beta=0.1)
    assert config.bf16 is bf16_supported()
    if not bf16_supported():  # the machine the suite usually runs on: TRL's default would raise here
        with pytest.raises(ValueError, match="bf16"):
            DPOConfig(output_dir=str(tmp_path))


def test_bf16_defaults_off_without_bf16_hardware(tmp_path, monkeypatch):
    _pretend_bf16_hardware(monkeypatch, False)
    assert FDPOConfig(output_dir=str(tmp_path)).bf16 is False


def test_bf16_defaults_on_with_bf16_hardware(tmp_path, monkeypatch):
    _pretend_bf16_hardware(monkeypatch, True)
    assert FDPOConfig(output_dir=str(tmp_path)).bf16 is True
    assert FDPOConfig(output_dir=str(tmp_path), use_cpu=True).bf16 is False  # CPU training asked for: fp32
    (parsed,) = HfArgumentParser(FDPOConfig).parse_args_into_dataclasses(["--output_dir", str(tmp_path)])
    assert parsed.bf16 is True


def test_explicit_bf16_false_is_kept_on_bf16_hardware(tmp_path, monkeypatch):
    _pretend_bf16_hardware(monkeypatch, True)
    assert FDPOConfig(output_dir=str(tmp_path), bf16=False).bf16 is False


def test_explicit_bf16_true_without_bf16_hardware_says_what_to_do(tmp_path, monkeypatch):
    _pretend_bf16_hardware(monkeypatch, False)
    with pytest.raises(InputError, match=r"bf16=True.*no accelerator with bfloat16 support.*bf16=False"):
        FDPOConfig(output_dir=str(tmp_path), bf16=True)
    # use_cpu=True asks for bf16 on the CPU, which TrainingArguments allows
    assert FDPOConfig(output_dir=str(tmp_path), bf16=True, use_cpu=True).bf16 is True


def test_numpy_scalars_are_accepted_as_alpha_and_beta(tmp_path):
    import numpy as np

    config = _config(tmp_path, divergence="alpha", alpha=np.float32(0.25), beta=np.float32(0.5))
    assert config.alpha == 0.25 and config.beta == 0.5
    assert type(config.alpha) is float and type(config.beta) is float  # to_json_string needs plain floats
    json.loads(config.to_json_string())


@pytest.mark.parametrize("spec", ["alpha:0.3,0.7", "alpha:alpha=0.2,alpha=0.4", "alpha:"])
def test_ambiguous_specs_are_refused_by_the_config(tmp_path, spec):
    with pytest.raises(InputError, match=re.escape(repr(spec))):
        _config(tmp_path, divergence=spec)


@pytest.mark.parametrize(
    "given, expected", [({}, DPOConfig.gradient_checkpointing), ({"gradient_checkpointing": False}, False)]
)
def test_gradient_checkpointing_carries_over_without_transformers_deprecation_warning(
    tmp_path, given, expected
):
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing and warns when the old name carries
    the value, as TRL's default does; FDPOConfig moves it over first: the same setting, no FutureWarning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        config = _config(tmp_path, **given)
    assert config.gradient_checkpointing is expected
    if hasattr(config, "activation_checkpointing"):
        assert config.activation_checkpointing is expected
    with pytest.warns(
        FutureWarning, match="gradient_checkpointing"
    ):  # TRL's DPOConfig still warns: the test can fail
        DPOConfig(output_dir=str(tmp_path), report_to="none", bf16=False, **given)
