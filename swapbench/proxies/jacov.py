"""`jacov` (Mellor et al. 2020, v1 "Jacobian covariance"; NASLib measures/jacov.py; proxies.md 2.10).

J (N x D): row n = d(sum of all outputs)/d x_n (one backward of ones; train-mode BatchNorm couples the
samples, so the rows include cross-sample terms). With Sigma = corrcoef(J) and its eigenvalues lambda,
S = -sum_i [log(lambda_i + k) + 1/(lambda_i + k)], k = 1e-5 (the minus is part of the v1 definition).
As in NASLib, any error gives NaN (-> -1e8); so does an eigenvalue below -k (log of a negative number).

Option `solver`: "eigvalsh" (default; a symmetric solver, as the spec recommends, giving the same real
eigenvalues up to rounding) or "eig" (NASLib's general solver; complex eigenvalues make the score NaN
here, where NASLib would fail on that architecture). The Jacobian is shared with epe_nas.
"""

from __future__ import annotations

import math

import numpy as np

from swapbench.errors import SwapbenchError
from swapbench.proxies._shared import input_jacobian
from swapbench.proxies.registry import ProxyContext, proxy

K = 1e-5


def jacov_score(jac: np.ndarray, solver: str = "eigvalsh") -> float:
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jac)
        if solver == "eigvalsh":
            eig = np.linalg.eigvalsh(corr)
        elif solver == "eig":
            eig = np.linalg.eig(corr)[0]
            if np.iscomplexobj(eig):
                return math.nan
        else:
            raise SwapbenchError(f"jacov: unknown solver '{solver}' (use eigvalsh or eig)")
        return float(-np.sum(np.log(eig + K) + 1.0 / (eig + K)))


@proxy(
    "jacov",
    description="-sum[log(lambda+k) + 1/(lambda+k)] over eigenvalues of the input-Jacobian correlation",
    reference="Mellor et al. 2020 (v1); NASLib measures/jacov.py",
    needs_grad=True,
    options={"solver": "eigvalsh"},
    choices={"solver": ("eigvalsh", "eig")},
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def jacov(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    solver = str(ctx.opt("solver"))
    if solver not in ("eigvalsh", "eig"):
        raise SwapbenchError(f"jacov: unknown solver '{solver}' (use eigvalsh or eig)")
    try:
        jac, _ = input_jacobian(net, inputs, targets, loss_fn, ctx)
        return jacov_score(jac, solver)
    except Exception:  # NASLib: any failure scores NaN, i.e. -1e8
        return math.nan
