"""The pipeline of a study, one function per step, each usable alone from Python.

    prompts = load_prompts(["Good Review:"])
    model, tokenizer = load_causal_lm("lvwerra/gpt2-imdb")
    samples = generate_samples(model, tokenizer, prompts, samples_per_prompt=8)
    rewards = score_samples(load_reward_model("lvwerra/distilbert-imdb"), samples.texts)
    pairs = make_pairs(samples, rewards, PairSettings(strategy="best_vs_worst"))
    with_ref = compute_reference_log_probs(model, tokenizer, pairs, args)     # once, for every run
    policy, seconds, history = train_policy(model, tokenizer, with_ref, args)
    metrics, generations = evaluate_policy(policy, tokenizer, reward_model, prompts, reference=model)

The steps, in the order data flows through them: ``loading`` (prompts, the SFT model, the reward model),
``sampling`` (samples of a model and their rewards), ``training`` (preference pairs, their reference log-probs, the
trained policy) and ``evaluation`` (reward and diversity of a policy). Their settings (``PairSettings``, ...) are in
``fdpo.settings``; ``fdpo.sweep.run_sweep`` chains the steps over a grid. Importing this package loads no model
library: torch, transformers and TRL are imported inside the functions.
"""

from fdpo.pipeline.evaluation import evaluate_policy
from fdpo.pipeline.loading import load_causal_lm, load_prompts, load_reward_model
from fdpo.pipeline.sampling import generate_samples, reward_logits_and_probabilities, score_samples
from fdpo.pipeline.training import compute_reference_log_probs, make_pairs, train_policy

__all__ = [
    "compute_reference_log_probs",
    "evaluate_policy",
    "generate_samples",
    "load_causal_lm",
    "load_prompts",
    "load_reward_model",
    "make_pairs",
    "reward_logits_and_probabilities",
    "score_samples",
    "train_policy",
]
