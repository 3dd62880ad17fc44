"""`lswag`: L-SWAG = Lambda x Psi (Casarin, Escalera, Lanz, CVPR 2025, Eq. 1, 7, 8; proxies.md 4.3).

Lambda (trainability): split the batch into `batches` (2) equal sub-batches; per sub-batch, zeroed
gradients, train-mode forward, task loss, backward. For each Conv2d/Linear layer l = 1..L (modules
order) in the depth-percentile band [p_lo, p_hi], Lambda_l = log sum over weights with sigma_w > eps of
1/sigma_w, and Lambda = sum of the Lambda_l (a layer whose sum is 0 is skipped, ZiCo's convention).
Psi (expressivity): one no-grad train-mode forward of the whole batch; the activation calls (nn.ReLU and
nn.GELU, forward order) whose depth-percentile bin is in the Psi band; Psi = number of distinct per-unit
binary patterns 1[a > 0] across the samples (SWAP's cardinality restricted to those layers).
Depth bins: layer l of L goes to int((l/L)*100 // 10), the last layer kept in bin 9 (10 bins).

Choices the paper leaves open ([INF], proxies.md 4.2), each an option where it changes numbers:
- `sigma`: "abs" (default; std over sub-batches of |grad|, the paper's Var(|grad|)) or "grad" (std of
  the raw gradient, as ZiCo's code). Population std; sub-batch gradients are zeroed in between (no ZiCo
  accumulation); `batches` = 2 mirrors ZiCo's two batches.
- `eps` = 1e-12: weights with sigma <= eps are ignored (ZiCo drops sigma = 0; a near-zero sigma would
  dominate the sum of 1/sigma).
- `psi_band`: "upto" (default; bins 0..p_hi, Eq. 7 as printed) or "band" (bins p_lo..p_hi).
- `psi_mode`: "union" (default; one set over the selected layers, Eq. 7, so patterns repeated across
  layers count once) or "sum" (sum of per-layer cardinalities).
- `psi_init`: "default" (default; the network's own initialisation, shared by Lambda and Psi) or
  "gaussian" (SWAP's N(0,1) re-initialisation for Psi only).
- `four_d_only`: False (default; every ReLU/GELU call, as L-SWAG drops SWAP's 4-D filter for ViTs) or True.
- The band: options `p_lo` / `p_hi` (bins 0..9); when unset, the (space, task) entry of
  configs/lswag_bands.toml, written by lswag_band.select_band with a label-free rule.
Score = Lambda x Psi, higher is better. The sub-batch gradients are shared with zico and the forward
with nwot and num_lr.
"""

from __future__ import annotations

import copy

from swapbench.errors import SwapbenchError
from swapbench.proxies._common import activation_calls, record_activations, split_grads
from swapbench.proxies._lswag import (
    PERC_BINS,
    default_band,
    depth_bins,
    lambda_terms,
    layerwise_psi,
    psi_calls,
)
from swapbench.proxies.registry import ProxyContext, proxy
from swapbench.proxies.swap import gaussian_init


def resolve_band(ctx: ProxyContext) -> tuple[int, int]:
    p_lo, p_hi = ctx.opt("p_lo"), ctx.opt("p_hi")
    if p_lo is None or p_hi is None:
        space = getattr(ctx.space, "name", str(ctx.space))
        lo, hi = default_band(space, ctx.task)
        p_lo = lo if p_lo is None else p_lo
        p_hi = hi if p_hi is None else p_hi
    p_lo, p_hi = int(p_lo), int(p_hi)
    if not 0 <= p_lo <= p_hi < PERC_BINS:
        raise SwapbenchError(
            f"lswag: band [{p_lo}, {p_hi}] must satisfy 0 <= p_lo <= p_hi <= {PERC_BINS - 1}"
        )
    return p_lo, p_hi


@proxy(
    "lswag",
    description="L-SWAG: layer-band gradient signal-to-noise (Lambda) x layer-wise SWAP cardinality (Psi)",
    reference="Casarin, Escalera, Lanz, CVPR 2025 (arXiv 2505.07300), Eq. 1, 7, 8",
    needs_labels=True,
    needs_grad=True,
    options={"p_lo": None, "p_hi": None, "batches": 2, "sigma": "abs", "eps": 1e-12,
             "psi_band": "upto", "psi_mode": "union", "psi_init": "default", "four_d_only": False},
    choices={"sigma": ("abs", "grad"), "psi_band": ("upto", "band"), "psi_mode": ("union", "sum"),
             "psi_init": ("default", "gaussian")},
    copy_net=False,  # reads shared passes; the gaussian Psi option copies the net itself
)
def lswag(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    p_lo, p_hi = resolve_band(ctx)
    batches = int(ctx.opt("batches"))
    if batches < 2 or batches > inputs.shape[0]:
        raise SwapbenchError(f"lswag: batches must be between 2 and the batch size (got {batches})")
    psi_band, psi_init = str(ctx.opt("psi_band")), str(ctx.opt("psi_init"))
    if psi_band not in ("upto", "band") or psi_init not in ("default", "gaussian"):
        raise SwapbenchError("lswag: psi_band is upto or band; psi_init is default or gaussian")

    grads = split_grads(net, inputs, targets, loss_fn, ctx, batches)
    kept = [g for g, b in zip(grads, depth_bins(len(grads)), strict=True) if p_lo <= b <= p_hi]
    lam = sum(t for t in lambda_terms(kept, str(ctx.opt("sigma")), float(ctx.opt("eps"))) if t is not None)

    if psi_init == "default":
        calls = activation_calls(net, inputs, targets, loss_fn, ctx)
    else:
        psi_net = copy.deepcopy(net)  # never re-initialise the caller's network
        gaussian_init(psi_net, ctx.generator("lswag-psi-init", inputs.device))
        calls = record_activations(psi_net, inputs)
    calls = psi_calls(calls, bool(ctx.opt("four_d_only")))
    lo = 0 if psi_band == "upto" else p_lo
    keep = [lo <= b <= p_hi for b in depth_bins(len(calls))]
    return lam * layerwise_psi(calls, keep, str(ctx.opt("psi_mode")))
