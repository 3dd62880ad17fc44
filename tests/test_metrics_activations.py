"""Activation- and Jacobian-based metrics (nwot, num_lr, jacov, epe_nas, zen) and L-SWAG's pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from swapbench.errors import NotApplicable, SwapbenchError
from swapbench.nn.hooks import record_activations
from swapbench.nn.patterns import naive_count, pack_samples, unpack_samples
from swapbench.proxies.epe_nas import epe_score
from swapbench.proxies.lswag import default_band, depth_bins, lambda_terms, layerwise_psi, psi_calls
from swapbench.proxies.priors import read_bands, write_band
from swapbench.proxies.registry import FAILED, ProxyContext, get_proxy, run_proxy
from swapbench.study.lswag_band import spike_band

pytestmark = pytest.mark.usefixtures("one_thread")


def score(name: str, net: nn.Module, x, y=None, memo: dict | None = None, **options) -> float:
    spec = get_proxy(name)
    ctx = ProxyContext(options=spec.resolve_options(options), memo={} if memo is None else memo, arch_key="t")
    if y is None:
        y = torch.zeros(x.shape[0], dtype=torch.long)
    return run_proxy(spec, net, x, y, torch.nn.functional.cross_entropy, ctx)


def signs(codes: list[list[int]]) -> torch.Tensor:
    return torch.tensor(codes, dtype=torch.float32) * 2 - 1  # 1 -> +1 (active), 0 -> -1


def test_nwot_known_codes():
    x = signs([[1, 0, 0], [0, 1, 0], [1, 1, 1]])
    # K_ij = 3 - Hamming(i, j) = [[3,1,1],[1,3,1],[1,1,3]], det = 20
    assert score("nwot", nn.Sequential(nn.ReLU()), x) == pytest.approx(math.log(20.0), rel=1e-12)
    # every ReLU call adds its kernel, 2-D inputs included: twice the same codes -> det(2K) = 8 * 20
    twice = nn.Sequential(nn.ReLU(), nn.ReLU())
    assert score("nwot", twice, x) == pytest.approx(math.log(160.0), rel=1e-12)


def test_nwot_singular_kernel_is_failed_and_project_classes_are_skipped():
    x = signs([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]])  # duplicate codes: det K = 0 -> -inf
    assert score("nwot", nn.Sequential(nn.ReLU()), x) == FAILED
    project_block = type("ReLUConvBN", (nn.Sequential,), {"__module__": "swapbench.spaces.example"})
    net = nn.Sequential(project_block(nn.ReLU()))  # counted once (the inner nn.ReLU), not twice
    x = signs([[1, 0, 0], [0, 1, 0], [1, 1, 1]])
    assert score("nwot", net, x) == pytest.approx(math.log(20.0), rel=1e-12)


def test_num_lr_counts_distinct_sample_codes():
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(2, 2), nn.ReLU())  # 2-D ReLU ignored
    x = signs([[1, 0], [1, 0], [0, 1], [1, 1]]).view(4, 1, 1, 2)
    assert score("num_lr", net, x) == 3.0


def test_num_lr_tenas_full_variant_is_bounded_by_its_samples():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    x = torch.randn(4, 3, 8, 8)
    value = score("num_lr", net, x, variant="tenas-full", samples=50, sample_batches=2, repeats=2, crop=5)
    assert 4 < value <= 100  # 18 ReLU units per 5x5 crop
    # a 3x3 crop leaves one position per sample and two channels: at most 4 codes
    assert score("num_lr", net, x, variant="tenas-full", samples=50, sample_batches=2, repeats=2, crop=3) <= 4


class IdentityThinSpace:
    """A space whose thin network is a ReLU on the 1-channel input, so a sample's code is its sign pattern."""

    name = "toy"

    @staticmethod
    def parse(key):
        return key

    @staticmethod
    def build_thin(arch, task):
        return nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(9, 2))


def test_num_lr_tenas_counts_sign_patterns_of_single_channel_crops():
    # 2 images x 3 channels of 3x3 = 6 possible samples (crop 3 = whole image), with 4 distinct sign patterns
    planes = signs([[1, 0, 0, 1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0, 0, 1, 0], [1, 0, 0, 1, 0, 0, 1, 0, 0],
                    [1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0, 0, 1, 0]])
    x = planes.view(2, 3, 3, 3)
    spec = get_proxy("num_lr")
    ctx = ProxyContext(space=IdentityThinSpace(), task="t", arch_key="a", memo={},
                       options=spec.resolve_options({"variant": "tenas", "samples": 200, "sample_batches": 2}))
    # every (image, channel) plane is drawn among 400 samples; the full net given to it is never used
    assert run_proxy(spec, nn.Identity(), x, torch.zeros(2, dtype=torch.long), None, ctx) == 4.0


def test_num_lr_tenas_on_nb201_thin_network():
    from swapbench.spaces import get_space

    space = get_space("nb201")
    arch = (3, 3, 2, 0, 1, 3)
    thin = space.build_thin(arch, "cifar10")
    assert thin(torch.randn(2, 1, 3, 3)).shape == (2, 10)  # 1 channel, no stem, 3x3 inputs broadcast as TE-NAS's
    assert sum(p.numel() for p in thin.parameters()) < 1000
    x = torch.randn(8, 3, 32, 32)
    spec = get_proxy("num_lr")
    opts = spec.resolve_options({"variant": "tenas", "samples": 100, "sample_batches": 2, "repeats": 2})

    def run(arch_key: str) -> float:
        ctx = ProxyContext(space=space, task="cifar10", seed=0, arch_key=arch_key, options=opts, memo={})
        return run_proxy(spec, space.build(arch, "cifar10"), x, torch.zeros(8, dtype=torch.long), None, ctx)

    value = run(str(arch))
    assert 1 < value <= 200 and value == run(str(arch))  # bounded by the samples, deterministic
    tnb = get_space("tnb101_micro")
    ctx = ProxyContext(space=tnb, task="class_scene", seed=0, arch_key="64-41414-3_33_333", options=opts, memo={})
    with pytest.raises(SwapbenchError, match="no thin TE-NAS network"):
        run_proxy(spec, nn.Identity(), x, None, None, ctx)


class Square(nn.Module):
    """y = sum of squares per sample, so d(sum y)/dx_n = 2 x_n."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) ** 2).sum(dim=1, keepdim=True).repeat(1, 3)


def jacov_reference(rows: np.ndarray) -> float:
    eig = np.linalg.eigvalsh(np.corrcoef(rows))
    return float(-np.sum(np.log(eig + 1e-5) + 1.0 / (eig + 1e-5)))


def test_jacov_on_known_jacobians():
    x = torch.randn(5, 1, 2, 3, generator=torch.Generator().manual_seed(0))
    expected = jacov_reference(3 * 2 * x.flatten(1).numpy().astype(np.float64))  # J_n = 3 * 2 x_n
    assert score("jacov", Square(), x) == pytest.approx(expected, rel=1e-6)
    # a linear network has the same Jacobian row for every sample: corrcoef = all ones
    lin = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
    n, k = 5, 1e-5
    eig = np.array([n] + [0.0] * (n - 1))
    assert score("jacov", lin, x) == pytest.approx(float(-np.sum(np.log(eig + k) + 1 / (eig + k))), rel=1e-6)


def test_jacov_and_epe_nas_share_one_jacobian():
    x = torch.randn(6, 1, 2, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    memo: dict = {}
    a = score("jacov", Square(), x, y, memo)
    b = score("epe_nas", Square(), x, y, memo)
    assert [k for k in memo if k[0] == "backward_pass"] == [("backward_pass", ("jacobian",))]
    assert (a, b) == (score("jacov", Square(), x, y), score("epe_nas", Square(), x, y))


def test_epe_nas_formula_and_quirks():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(6, 5))
    labels = np.array([0, 0, 1, 1, 1, 2])

    def s(rows):
        return np.sum(np.log(np.abs(np.corrcoef(jac[rows])) + 1e-5))

    s0, s1, single = s([0, 1]), s([2, 3, 4]), math.log(1 + 1e-5)
    assert epe_score(jac, labels, 10) == pytest.approx(abs(s0) + abs(s1) + abs(single), rel=1e-12)
    # > 100 classes: scores divided by the class size, the one-sample class skipped, pairwise mean
    a, b = s0 / 2, s1 / 3
    assert epe_score(jac, labels, 120) == pytest.approx(2 * abs(a - b) / 2, rel=1e-12)
    # > 100 classes with a single class of two samples and the rest singletons (a jigsaw batch of 1000
    # permutation ids): only one class is scored, and the mean of its self-differences is exactly 0
    assert epe_score(jac, np.array([7, 7, 1, 2, 3, 4]), 1000) == 0.0
    assert epe_score(jac, np.array([7, 7, 1, 1, 3, 4]), 1000) != 0.0
    # ... and with no repeated label no class is scored: the reference divides by zero and scores NaN
    assert math.isnan(epe_score(jac, np.arange(6), 1000))
    assert epe_score(jac, np.arange(6), 10) == pytest.approx(6 * math.log(1 + 1e-5), rel=1e-9)
    onehot = torch.nn.functional.one_hot(torch.as_tensor(labels), 3).float()
    x = torch.randn(6, 1, 2, 3)
    assert score("epe_nas", Square(), x, onehot) == score("epe_nas", Square(), x, torch.as_tensor(labels))


def test_zen_is_deterministic_and_needs_a_global_pool():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 2))
    x = torch.zeros(4, 3, 8, 8)  # only the shape is used
    a, b = score("zen", net, x), score("zen", net, x)
    assert a == b and math.isfinite(a)
    assert get_proxy("zen").data == "shape"
    # no global average pool (TNB101 autoencoder): not applicable -> NaN, an empty cell in the reports
    assert math.isnan(score("zen", nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), x))
    with pytest.raises(NotApplicable, match="global average pool"):
        get_proxy("zen").fn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), x, None, None,
                            ProxyContext(options=get_proxy("zen").resolve_options(), memo={}))


def test_zen_untracked_batchnorm_option():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1))
    x = torch.zeros(4, 3, 8, 8)
    skipped, with_var = score("zen", net, x), score("zen", net, x, untracked_bn="batch_var")
    assert math.isfinite(skipped) and math.isfinite(with_var) and skipped != with_var


# ----------------------------------------------------------------------------------------------
# L-SWAG


def test_depth_bins():
    assert depth_bins(10) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 9]  # l = 1..L; 100 % stays in bin 9
    assert depth_bins(20) == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 9]
    assert depth_bins(3) == [3, 6, 9]


def test_lambda_terms_by_hand():
    g = torch.tensor([[1.0, -2.0, 3.0, 0.5], [3.0, 2.0, 3.0, 0.5]])  # two sub-batches, four weights
    # |g| std per weight (ddof 0): 1, 0, 0, 0 -> only the first weight: log(1/1) = 0
    assert lambda_terms([g], "abs", 0.0) == [0.0]
    # raw std: 1, 2, 0, 0 -> log(1 + 1/2)
    assert lambda_terms([g], "grad", 0.0) == [pytest.approx(math.log(1.5))]
    assert lambda_terms([torch.zeros(2, 3)], "abs", 0.0) == [None]  # layer skipped


def test_layerwise_psi_union_and_sum_agree_with_swap_counting():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 25, 3), nn.ReLU())
    x = torch.randn(8, 3, 5, 5)
    calls = psi_calls(record_activations(net, x), four_d_only=False)
    assert len(calls) == 3
    outs = []
    for m in net:
        x = m(x)
        if isinstance(m, nn.ReLU):
            outs.append(x.detach())
    assert layerwise_psi(calls, [True] * 3, "union") == naive_count(outs)
    assert layerwise_psi(calls, [True, False, False], "union") == naive_count(outs[:1])
    assert layerwise_psi(calls, [True] * 3, "sum") == sum(naive_count([o]) for o in outs)


def test_pack_roundtrip():
    active = torch.rand(5, 13, generator=torch.Generator().manual_seed(0)) > 0.5
    assert torch.equal(unpack_samples(pack_samples(active), 13), active)


def test_band_file_roundtrip(tmp_path):
    path = tmp_path / "bands.toml"
    write_band({"space": "nb201", "task": "ImageNet16-120", "p_lo": 2, "p_hi": 7, "bin_std": [1.5, math.nan],
                "rule": 'std > median "quoted" # not a comment'}, path)
    write_band({"space": "nb201", "task": "cifar10", "p_lo": 5, "p_hi": 9}, path)
    data = read_bands(path)
    assert default_band("nb201", "ImageNet16-120", path) == (2, 7)
    assert default_band("nb201", "cifar10", path) == (5, 9)
    assert data["nb201"]["ImageNet16-120"]["rule"] == 'std > median "quoted" # not a comment'
    with pytest.raises(Exception, match="lswag-band"):
        default_band("nb201", "cifar100", path)


def test_spike_band_rule():
    spread = np.array([1.0, 1.1, 3.0, 1.2, 1.0, 2.9, 1.1, 1.0, 1.2, 1.1])
    assert spike_band(spread, threshold=2.0) == (2, 5)
    assert spike_band(np.ones(10)) in [(b, b) for b in range(10)]


def test_lswag_band_options_and_product():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.randn(8, 3, 6, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    memo: dict = {}
    full = score("lswag", net, x, y, memo, p_lo=0, p_hi=9)
    lam = score("zico", net, x, y, memo)  # shares the sub-batch gradients
    assert ("split_grads", 2) in memo and math.isfinite(full) and math.isfinite(lam)
    assert score("lswag", net, x, y, p_lo=0, p_hi=9, psi_init="gaussian") != full
    with pytest.raises(Exception, match="p_lo"):
        score("lswag", net, x, y, p_lo=5, p_hi=3)


def test_select_band_writes_an_entry(synthetic_data_dir, tmp_path):
    from swapbench.study.lswag_band import select_band

    data_dir = synthetic_data_dir

    path = tmp_path / "bands.toml"
    entry = select_band("nb201", "ImageNet16-120", n_networks=3, seed=1, data_dir=data_dir, batch_size=8,
                        band_file=path)
    assert 0 <= entry["p_lo"] <= entry["p_hi"] <= 9
    assert len(entry["bin_mean"]) == len(entry["bin_std"]) == 10
    assert default_band("nb201", "ImageNet16-120", path) == (entry["p_lo"], entry["p_hi"])
    again = select_band("nb201", "ImageNet16-120", n_networks=3, seed=1, data_dir=data_dir, batch_size=8,
                        band_file=None)
    assert again["bin_mean"] == entry["bin_mean"]  # deterministic in (space, task, seed)
