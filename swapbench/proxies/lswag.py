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
- The band: options `p_lo` / `p_hi` (bins 0..9); when unset, the (space, task) entry of the band files
  (swapbench.proxies.priors: the packaged lswag_bands.toml, under the user's own from `swapbench lswag-band`),
  chosen by swapbench.study.lswag_band.select_band with a label-free rule.
Score = Lambda x Psi, higher is better. The sub-batch gradients are shared with zico and the forward
with nwot and num_lr.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch

from swapbench.errors import SwapbenchError
from swapbench.nn.hooks import ActivationCall, record_activations
from swapbench.nn.patterns import pack_unit_patterns, unique_rows, unpack_samples
from swapbench.proxies._shared import activation_calls, population_std, split_grads
from swapbench.proxies.priors import lswag_band_prior, user_band_file
from swapbench.proxies.registry import ProxyContext, proxy
from swapbench.proxies.swap import gaussian_init

PERC_BINS = 10
SIGMA_ESTIMATORS = ("abs", "grad")


def depth_bins(count: int) -> list[int]:
    """Bin of layers l = 1..count: int((l / count) * 100 // (100 / PERC_BINS)) as printed in the paper,
    with the last layer (exactly 100 %) put in the top bin PERC_BINS - 1 so that there are PERC_BINS bins."""
    return [min(int((l / count) * 100 // (100 / PERC_BINS)), PERC_BINS - 1) for l in range(1, count + 1)]


def sigma(per_batch: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-weight standard deviation across the B sub-batch gradients (B x n), population (ddof 0).
    "abs": std of |g| (the paper writes Var(|grad|)); "grad": std of g (ZiCo's code)."""
    g = per_batch.double()
    if estimator == "abs":
        g = g.abs()
    elif estimator != "grad":
        raise SwapbenchError(f"lswag: unknown sigma estimator '{estimator}' (use abs or grad)")
    return population_std(g)


def lambda_terms(grads: list[torch.Tensor], estimator: str, eps: float) -> list[float | None]:
    """Per scored layer: log sum over weights with sigma > eps of 1/sigma; None when nothing is left
    (ZiCo's convention: such a layer is skipped)."""
    out: list[float | None] = []
    for g in grads:
        s = sigma(g, estimator)
        s = s[s > eps]
        total = float((1.0 / s).sum()) if s.numel() else 0.0
        out.append(math.log(total) if total > 0 else None)
    return out


def log_sigma_profile(grads: list[torch.Tensor], estimator: str, eps: float) -> list[float | None]:
    """Per scored layer: the mean over weights with sigma > eps of log sigma (band-selection statistic)."""
    out: list[float | None] = []
    for g in grads:
        s = sigma(g, estimator)
        s = s[s > eps]
        out.append(float(torch.log(s).mean()) if s.numel() else None)
    return out


def psi_calls(calls: list[ActivationCall], four_d_only: bool) -> list[ActivationCall]:
    """The activation calls that make up Psi's layers: nn.ReLU / nn.GELU calls in forward order."""
    return [c for c in calls if (c.relu or c.gelu) and (c.dim == 4 or not four_d_only)]


def layerwise_psi(calls: list[ActivationCall], keep: list[bool], mode: str) -> int:
    """Distinct per-unit sample patterns over the kept calls: one set over all of them ("union", Eq. 7)
    or the sum of per-call cardinalities ("sum")."""
    per_call: dict[int, torch.Tensor] = {}

    def unique_units(c: ActivationCall) -> torch.Tensor:
        if id(c.bits) not in per_call:
            per_call[id(c.bits)] = unique_rows(pack_unit_patterns(unpack_samples(c.bits, c.units)))
        return per_call[id(c.bits)]

    chosen = [c for c, k in zip(calls, keep, strict=True) if k]
    if not chosen:
        return 0
    if mode == "sum":
        return sum(int(unique_units(c).shape[0]) for c in chosen)
    if mode != "union":
        raise SwapbenchError(f"lswag: unknown psi_mode '{mode}' (use union or sum)")
    parts = [unique_units(c) for c in chosen if not c.duplicate]
    return int(unique_rows(torch.cat(parts, dim=0)).shape[0])


def default_band(space: str, task: str, path: Path | None = None) -> tuple[int, int]:
    """The stored band of (space, task), from `path` or the packaged and user band files."""
    band = lswag_band_prior(space, task, path)
    if band is None:
        where = path or f"the packaged bands or {user_band_file()}"
        raise SwapbenchError(
            f"lswag: no layer band for {space}/{task} in {where}; compute one with "
            "`swapbench lswag-band` or pass the options lswag.p_lo and lswag.p_hi"
        )
    return band


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
