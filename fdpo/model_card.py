"""The f-DPO settings in a model card: ``FDPOTrainer`` adds them to the card TRL writes (its metadata and a section
of text), so that a saved or pushed policy says which divergence, α (and TRL's equivalent settings), β and loss type
trained it."""

from __future__ import annotations

import re

from fdpo.config import FDPOConfig

__all__ = ["add_fdpo_settings"]


# TRL's template links the base model on the hub; for a model loaded from a local folder it has none and writes None.
_NO_BASE_MODEL = re.compile(r"fine-tuned version of \[None\]\(https://huggingface\.co/None\)")


def add_fdpo_settings(card_path: str, args: FDPOConfig, base_model: str | None = None) -> None:
    """Adds the f-DPO settings to the model card TRL wrote at ``card_path``: metadata and a section of text.

    Args:
        base_model: the model the policy was trained from (a hub id or a local folder), written where TRL's card
            says "fine-tuned version of [None]" (TRL names only hub models).
    """
    from huggingface_hub import ModelCard

    divergence = args.get_divergence()
    trl = args.trl_equivalent()
    settings = {
        "divergence": args.divergence,
        "alpha": args.alpha,
        "beta": args.beta,
        "loss_type": args.loss_type[0],
    }
    if trl is not None:
        settings["trl_f_divergence_type"] = trl["f_divergence_type"]
        settings["trl_f_alpha_divergence_coef"] = trl["f_alpha_divergence_coef"]
    card = ModelCard.load(card_path)
    card.data.fdpo = settings
    rows = [("divergence", f"`{args.divergence}` ({type(divergence).__name__})")]
    if args.alpha is not None:
        rows.append(("α (paper convention: α → 0 is reverse KL, α → 1 forward KL)", f"{args.alpha:g}"))
    if trl is None:
        rows.append(("TRL equivalent", "none: TRL's DPOTrainer has no such f-divergence"))
    else:
        coefficient = (
            f", `f_alpha_divergence_coef={trl['f_alpha_divergence_coef']:g}` (= 1 − α)"
            if trl["f_divergence_type"] == "alpha_divergence"
            else ""
        )
        rows.append(("TRL equivalent", f'`f_divergence_type="{trl["f_divergence_type"]}"`{coefficient}'))
    rows += [("β", f"{args.beta:g}"), ("loss type", args.loss_type[0])]
    section = (
        "### f-DPO settings\n\n"
        "Trained with f-DPO (preference optimization under an f-divergence constraint) by fdpo's FDPOTrainer:\n\n"
        "| setting | value |\n|---|---|\n" + "".join(f"| {name} | {value} |\n" for name, value in rows) + "\n"
    )
    text = card.text
    base = f"`{base_model}`" if base_model else "a model (its name was not recorded)"
    text = _NO_BASE_MODEL.sub(lambda _match: f"fine-tuned version of {base}", text)
    anchor = text.find("### Framework versions")
    text = text + "\n" + section if anchor < 0 else text[:anchor] + section + text[anchor:]
    ModelCard(f"---\n{card.data.to_yaml()}\n---\n{text}").save(card_path)
