"""`epe_nas` (Lopes et al., ICANN 2021; NASLib measures/epe_nas.py; proxies.md 2.12).

From the input Jacobian J of jacov (shared), C = output width: group the rows by label; per class,
R_c = corrcoef(J_c) and s_c = sum_ij log(|R_c,ij| + k), k = 1e-5, divided by len(R_c) when C > 100.
C <= 100: S = sum_c |s_c|; C > 100: S = sum_c sum_c' |s_c - s_c'| / (#classes scored).
2-D (soft) targets are arg-maxed. Any error gives NaN (-> -1e8).

Reference quirks kept: a class with one sample has a scalar correlation of 1.0; it adds log(1 + k) ~ 1e-5
when C <= 100, but when C > 100 NASLib's division by len() of that scalar raises and the class is
skipped (not counted among the classes scored). So with C > 100 a batch without a repeated label scores
NaN (the reference divides by zero classes), and one with a single repeated label scores exactly 0.
"""

from __future__ import annotations

import math

import numpy as np

from swapbench.proxies._shared import input_jacobian
from swapbench.proxies.registry import ProxyContext, proxy

K = 1e-5


def epe_score(jac: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(int(label), []).append(i)
    per_class: dict[int, float] = {}
    with np.errstate(all="ignore"):
        for c, rows in groups.items():
            block = jac[rows[0]] if len(rows) == 1 else jac[rows]  # one sample: a vector, as the reference
            corr = np.asarray(np.corrcoef(block))
            s = float(np.sum(np.log(np.abs(corr) + K)))
            if n_classes > 100:
                if corr.ndim == 0:
                    continue  # len() of the scalar correlation fails in the reference: class skipped
                s /= len(corr)
            per_class[c] = s
    values = list(per_class.values())
    if n_classes <= 100:
        return float(sum(abs(v) for v in values))
    if not values:
        return math.nan  # every class a single sample: the reference divides by zero classes and fails
    return float(sum(abs(a - b) for a in values for b in values) / len(values))


@proxy(
    "epe_nas",
    description="per-class correlation of input Jacobians (evaluation of expressivity)",
    reference="Lopes et al., ICANN 2021; NASLib measures/epe_nas.py",
    needs_labels=True,
    needs_grad=True,
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def epe_nas(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    try:
        jac, n_classes = input_jacobian(net, inputs, targets, loss_fn, ctx)
        labels = targets.argmax(dim=1) if targets.dim() == 2 else targets
        return epe_score(jac, labels.detach().cpu().numpy().astype(np.int64), n_classes)
    except Exception:  # NASLib: any failure scores NaN, i.e. -1e8
        return math.nan


