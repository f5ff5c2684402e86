"""Standard errors of a sweep's metrics across seeds *and* evaluation prompts, and the verdict on a family.

A configuration (divergence × loss type × β) is trained with several seeds; every run samples the same evaluation
prompts, several completions each. Its reported value is the mean over seeds of each run's metric. That mean moves
for two reasons, and its standard error here counts both:

* **seeds**: training and sampling noise. ``se_seeds = s / √S``, s the sample standard deviation (ddof 1) of
  the S per-seed values.
* **prompts**: which evaluation prompts were drawn. Every run's metric is recomputed on resampled prompt sets
  (the same resampled sets for every seed and every configuration, so that comparisons are *paired*), the
  recomputed values are averaged over the seeds of the configuration, and ``se_prompts`` is their spread.

``se = √(se_seeds² + se_prompts²)``. The two parts overlap a little: the sampling noise of the completions shows
in both (resampling a prompt resamples its completions too), so the combined error is slightly conservative.
With one seed the seed part is unknown and ``se`` is the prompt part alone.

The package holds the three steps: ``resampling`` recomputes each run's metrics on resampled prompt sets (a
bootstrap for per-sample metrics, a delete-one-prompt jackknife for pooled ones), ``estimates`` combines seeds and
prompts into a configuration's standard error and a paired gap between two configurations (and holds the
Student-t interval, ``t_interval``), and ``claims`` judges a claim about an ordered family from those.
``inference`` compares two configurations from per-seed values at the real degrees of freedom (paired t, Welch,
the exact sign-flip test, TOST, power and the replicates it needs), and ``matching`` compares configurations at
matched reward or KL along their curves. Every name is importable from ``fdpo.uncertainty``.

Everything here is a pure function of numpy arrays (no files, no models); ``fdpo.report`` reads sweeps and calls it.
"""

from fdpo.uncertainty.claims import CLAIMS, CONFIDENCE, RHO_THRESHOLD, Claim, ClaimVerdict, judge, spearman
from fdpo.uncertainty.estimates import (
    Estimate,
    Gap,
    combine,
    gap,
    prompt_standard_error,
    seed_standard_error,
    t_interval,
)
from fdpo.uncertainty.inference import (
    COMPARISON_COLUMNS,
    OUTCOMES,
    Comparison,
    equivalence_power,
    paired_comparison,
    power,
    replicates_for_power,
    sign_flip_p_value,
    t_comparison,
    welch_comparison,
    welch_df,
)
from fdpo.uncertainty.matching import (
    MATCH_FRACTIONS,
    MATCHED_COLUMNS,
    EmptyRangeError,
    common_targets,
    curves_from_rows,
    matched_comparisons,
    matched_values,
    points_against_curve,
    value_at,
)
from fdpo.uncertainty.resampling import (
    PER_SAMPLE_METRICS,
    POOLED_METRICS,
    Replicates,
    RunSamples,
    bootstrap_weights,
    distinct_n_jackknife,
    ratio_bootstrap,
    ratio_jackknife,
    replicates_by_run,
    run_replicates,
    token_entropy_jackknife,
)

__all__ = [
    "CLAIMS",
    "COMPARISON_COLUMNS",
    "CONFIDENCE",
    "MATCHED_COLUMNS",
    "EmptyRangeError",
    "MATCH_FRACTIONS",
    "OUTCOMES",
    "POOLED_METRICS",
    "PER_SAMPLE_METRICS",
    "RHO_THRESHOLD",
    "Claim",
    "ClaimVerdict",
    "Comparison",
    "Estimate",
    "Gap",
    "Replicates",
    "RunSamples",
    "bootstrap_weights",
    "combine",
    "common_targets",
    "curves_from_rows",
    "distinct_n_jackknife",
    "equivalence_power",
    "gap",
    "judge",
    "matched_comparisons",
    "matched_values",
    "points_against_curve",
    "paired_comparison",
    "power",
    "prompt_standard_error",
    "ratio_bootstrap",
    "ratio_jackknife",
    "replicates_by_run",
    "replicates_for_power",
    "run_replicates",
    "seed_standard_error",
    "sign_flip_p_value",
    "spearman",
    "t_comparison",
    "t_interval",
    "token_entropy_jackknife",
    "value_at",
    "welch_comparison",
    "welch_df",
]
