"""Is a performance drop real? One-sided tests of "current below reference" that respect the
number of labels at hand, so a handful of unlucky labels never pages anyone.

* Accuracy (a proportion): the two-proportion z-test with the pooled rate, on effective sample
  sizes (weighted joins use Kish's ``n_eff``).
* ROC AUC: Hanley & McNeil (1982) standard error of each AUC,
  ``SE^2 = [A(1-A) + (n_p - 1)(Q1 - A^2) + (n_n - 1)(Q2 - A^2)] / (n_p n_n)``,
  ``Q1 = A / (2 - A)``, ``Q2 = 2A^2 / (1 + A)``, and ``z = (A_ref - A) / sqrt(SE^2 + SE_ref^2)``
  (the two samples are independent).

>>> round(accuracy_drop_p(0.80, 2000, 0.85, 20000), 6) < 1e-6
True
>>> accuracy_drop_p(0.70, 20, 0.85, 20000) > 0.01   # 20 labels: not significant
True
"""

from __future__ import annotations

import math

from scipy import stats


def hanley_mcneil_se(auc: float, n_pos: float, n_neg: float) -> float:
    """Standard error of an ROC AUC estimated from ``n_pos`` positives and ``n_neg``
    negatives (Hanley & McNeil 1982); NaN without both classes."""
    if n_pos < 1 or n_neg < 1 or not math.isfinite(auc):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
           + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def accuracy_drop_p(acc: float, n: float, acc_ref: float, n_ref: float) -> float:
    """One-sided p-value that the current accuracy is below the reference's."""
    if n < 1 or n_ref < 1 or not (math.isfinite(acc) and math.isfinite(acc_ref)):
        return math.nan
    pooled = (acc * n + acc_ref * n_ref) / (n + n_ref)
    var = pooled * (1 - pooled) * (1 / n + 1 / n_ref)
    if var <= 0:
        return 0.0 if acc < acc_ref else 1.0
    return float(stats.norm.sf((acc_ref - acc) / math.sqrt(var)))


def auc_drop_p(auc: float, n_pos: float, n_neg: float, auc_ref: float, n_pos_ref: float,
               n_neg_ref: float) -> float:
    """One-sided p-value that the current ROC AUC is below the reference's."""
    se = hanley_mcneil_se(auc, n_pos, n_neg)
    se_ref = hanley_mcneil_se(auc_ref, n_pos_ref, n_neg_ref)
    if not (math.isfinite(se) and math.isfinite(se_ref)):
        return math.nan
    var = se * se + se_ref * se_ref
    if var <= 0:
        return 0.0 if auc < auc_ref else 1.0
    return float(stats.norm.sf((auc_ref - auc) / math.sqrt(var)))
