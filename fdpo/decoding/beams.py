"""``generate``'s beam search and beam sampling (transformers 5 rules, step for step) in fdpo's decoding loop."""

from __future__ import annotations

import torch

from fdpo.decoding._transformers import logits_processors, stop_hits, takes_4d_float_mask
from fdpo.decoding.streams import BeamTreeStream, DecodeStream

__all__ = ["beam_decode", "row_top_k"]


def _top_continuations(log_probs, running_scores, processors, sequences, config, keep_count):
    """``generate``'s choice of ``keep_count`` continuations over all beams, best first: (scores, parent beams,
    tokens). ``log_probs``: (batch, beams, vocabulary) log-softmaxed logits."""
    batch, beams, vocab = log_probs.shape
    log_probs = processors(sequences, log_probs.view(batch * beams, vocab))
    log_probs = (log_probs.view(batch, beams, vocab) + running_scores[:, :, None]).view(batch, -1)
    if config.do_sample:
        candidates = torch.multinomial(torch.softmax(log_probs, dim=-1), num_samples=keep_count)
        scores = log_probs.gather(1, candidates)
        scores, order = scores.sort(dim=-1, descending=True)
        candidates = candidates.gather(-1, order)
    else:
        scores, candidates = torch.topk(log_probs, k=keep_count)
    return scores, candidates // vocab, candidates % vocab


def row_top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(scores, k, sorted=False)`` of each row (values, indices), up to the choice among tied values,
    in about half the time on CPU for a vocabulary of thousands.

    Split each row's columns into ``groups`` strided sets of ``size`` columns (set j: j, j + groups, ...): a set
    holding one of the top k entries has its maximum among the k largest set maxima (else k other sets hold
    k entries above it), so the top k lie in those k sets, and ``topk`` runs on k·size entries only.
    """
    rows, width = scores.shape
    size = width // (8 * k)
    if size < 2:
        return torch.topk(scores, k, sorted=False)
    groups = -(-width // size)
    if groups * size != width:
        scores = torch.nn.functional.pad(scores, (0, groups * size - width), value=float("-inf"))
    best_sets = torch.topk(scores.view(rows, size, groups).amax(1), k, sorted=False).indices
    columns = (best_sets[:, :, None] + groups * torch.arange(size, device=scores.device)).view(rows, -1)
    values, picked = torch.topk(scores.gather(1, columns), k, sorted=False)
    return values, columns.gather(1, picked)


def _top_continuations_among_top_k(
    log_probs, running_scores, processors, sequences, config, keep_count, min_keep
):
    """As ``_top_continuations`` for beam sampling with ``top_k``, drawing only among each beam's top-k tokens
    (every other token has probability 0): the same distribution, other random numbers, less work."""
    batch, beams, vocab = log_probs.shape
    log_probs = processors(sequences, log_probs.view(batch * beams, vocab))
    top_k = min(max(config.top_k, min_keep), vocab)
    values, tokens = row_top_k(log_probs, top_k)  # order is irrelevant here
    if config.temperature is not None and config.temperature != 1.0:
        values = values / config.temperature
    if config.renormalize_logits is True:
        values = torch.log_softmax(values, dim=-1)
    values = (values.view(batch, beams, top_k) + running_scores[:, :, None]).view(batch, -1)
    # Sampling without replacement proportionally to p: the keep_count largest p / q with q ~ Exp(1).
    noise = torch.empty_like(values).exponential_()
    picked = torch.topk(torch.softmax(values, dim=-1) / noise, keep_count).indices
    scores = values.gather(1, picked)
    scores, order = scores.sort(dim=-1, descending=True)
    picked = picked.gather(-1, order)
    return scores, picked // top_k, tokens.view(batch, -1).gather(1, picked)


def beam_decode(model, plan_, config, input_ids, attention_mask, same_stream: bool) -> torch.Tensor:
    """``generate``'s ``_beam_search`` (beam sampling with ``do_sample``), transformers 5 rules, step for step.

    ``same_stream``: draw the random numbers ``generate`` draws, with a cache row per beam reordered as ``generate``
    reorders it (the same tokens for the same seed). Without it, the beams of a prompt share one cache row
    (``BeamTreeStream``, where the model's attention takes a 4-D mask), and beam sampling with ``top_k`` (and no
    ``top_p``) draws among each beam's top-k tokens only: the same distribution, other random numbers.
    """
    device = input_ids.device
    batch, width = input_ids.shape
    beams = config.num_beams
    max_length, length_penalty, early_stopping = (
        config.max_length,
        config.length_penalty,
        config.early_stopping,
    )
    candidates_only = (
        not same_stream
        and config.do_sample
        and bool(config.top_k)
        and (config.top_p is None or config.top_p >= 1.0)
    )
    eos = torch.tensor(plan_.eos_ids, device=device) if plan_.eos_ids else None
    processors = logits_processors(config, plan_.eos_ids, width, device, warpers=not candidates_only)
    keep_count = max(2, 1 + len(plan_.eos_ids)) * beams
    min_keep = len(plan_.eos_ids) + 1 if plan_.eos_ids else 2
    top_beam_mask = (torch.arange(keep_count, device=device) < beams)[None, :]
    # generate's fill value for unfinished positions: `pad_token_id or eos_token_id[0]` (a pad id of 0 is falsy).
    pad_id = config.pad_token_id
    fill = (pad_id if pad_id else plan_.eos_ids[0]) if plan_.eos_ids else -1

    rows = batch * beams
    expanded_ids = input_ids.repeat_interleave(beams, dim=0)
    tree = not same_stream and takes_4d_float_mask(model)
    if tree:
        stream = BeamTreeStream(model, input_ids, attention_mask, beams, width + beams * (max_length - width))
        logits = stream.prefill().repeat_interleave(beams, dim=0)
    else:
        stream = DecodeStream(model, expanded_ids, attention_mask.repeat_interleave(beams, dim=0), max_length)
        logits = stream.prefill()
    running = torch.full((batch, beams, max_length), fill, dtype=torch.long, device=device)
    running[:, :, :width] = expanded_ids.view(batch, beams, width)
    sequences = running.clone()
    running_scores = torch.zeros((batch, beams), dtype=torch.float, device=device)
    running_scores[:, 1:] = -1e9
    beam_scores = torch.full((batch, beams), -1e9, dtype=torch.float, device=device)
    finished = torch.zeros((batch, beams), dtype=torch.bool, device=device)
    finished_lengths = torch.zeros((batch, beams), dtype=torch.long, device=device)
    improvable = torch.ones((batch, 1), dtype=torch.bool, device=device)
    beam_offsets = torch.arange(batch, device=device)[:, None] * beams
    batch_index = torch.arange(batch, device=device)[:, None]

    length = width
    while True:
        log_probs = torch.nn.functional.log_softmax(logits, dim=-1)
        log_probs = log_probs.view(batch, beams, -1)
        history = running[:, :, :length].reshape(rows, length)
        if candidates_only:
            candidate_scores, candidate_parents, candidate_tokens = _top_continuations_among_top_k(
                log_probs, running_scores, processors, history, config, keep_count, min_keep
            )
        else:
            candidate_scores, candidate_parents, candidate_tokens = _top_continuations(
                log_probs, running_scores, processors, history, config, keep_count
            )
        candidate_sequences = running[batch_index, candidate_parents]
        candidate_sequences[:, :, length] = candidate_tokens
        hits = stop_hits(candidate_sequences[:, :, length], eos, length + 1, max_length)

        # The best `beams` candidates that go on.
        running_candidate_scores = candidate_scores + hits.to(torch.float32) * -1.0e9
        going_on = torch.topk(running_candidate_scores, k=beams)[1]
        running = candidate_sequences.gather(1, going_on[:, :, None].expand(-1, -1, max_length))
        running_scores = running_candidate_scores.gather(1, going_on)
        parents = candidate_parents.gather(1, going_on)

        # Finished hypotheses: the best `beams` of the old ones and those that just ended among the top `beams`.
        just_finished = hits & top_beam_mask
        finished_scores = candidate_scores / ((length + 1 - width) ** length_penalty)
        all_full = torch.all(finished, dim=-1, keepdim=True) & (early_stopping is True)
        finished_scores += all_full.to(torch.float32) * -1.0e9
        finished_scores += (~improvable).to(torch.float32) * -1.0e9
        finished_scores += (~just_finished) * -1.0e9
        merged_scores = torch.cat((beam_scores, finished_scores), dim=1)
        best = torch.topk(merged_scores, k=beams)[1]
        sequences = torch.cat((sequences, candidate_sequences), dim=1).gather(
            1, best[:, :, None].expand(-1, -1, max_length)
        )
        beam_scores = merged_scores.gather(1, best)
        candidate_lengths = torch.full_like(candidate_tokens, length + 1 - width)
        finished_lengths = torch.cat((finished_lengths, candidate_lengths), dim=1).gather(1, best)
        finished = torch.cat((finished, just_finished), dim=1).gather(1, best)

        length += 1
        # generate's early-stop heuristic and loop condition.
        if early_stopping == "never" and length_penalty > 0.0:
            best_length = max_length - width
        else:
            best_length = length - width
        best_running = running_scores[:, :1] / (best_length**length_penalty)
        worst_finished = torch.where(finished, torch.min(beam_scores, dim=1, keepdim=True)[0], -1.0e9)
        improvable = improvable & torch.any(best_running > worst_finished, dim=-1, keepdim=True)
        if (
            not bool(improvable.any())
            or (bool(finished.all()) and early_stopping is True)
            or bool(hits.all())
        ):
            break

        if tree:
            logits = stream.step(running[:, :, length - 1].flatten(), parents)
        else:
            stream.reorder((parents + beam_offsets).flatten())
            logits = stream.step(running[:, :, length - 1].flatten())

    output_length = width + int(finished_lengths[:, 0].max())
    return sequences[:, 0, :output_length]
