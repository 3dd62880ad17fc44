"""TransNAS-Bench-101 micro/macro: encodings, the 7 task networks (counts equal the stored ones), batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swapbench.data.benchmarks import load_json, load_truth
from swapbench.errors import EncodingError, SwapbenchError
from swapbench.nn.counting import executed_counts, executed_params
from swapbench.proxies.priors import reg_swap_prior
from swapbench.spaces import get_space
from swapbench.spaces.tnb101 import all_macro_archs, permutations

pytestmark = pytest.mark.usefixtures("one_thread")

MICRO, MACRO = get_space("tnb101_micro"), get_space("tnb101_macro")
TASKS = list(MICRO.tasks)
DISCRIMINATOR_PARAMS = 5_168_705  # built for autoencoder/normal, never executed


def build_meta(space, arch, task):
    with torch.device("meta"):
        return space.build(arch, task)


def tnb_tables(data_dir):
    folder = data_dir / "nas-bench-suite-zero"
    return {name: load_json(str(folder / f"zc_transbench101_{name.split('_')[1]}.json"))
            for name in ("tnb101_micro", "tnb101_macro")}


@pytest.fixture(scope="module")
def tables(data_dir):
    """The published tables."""
    return tnb_tables(data_dir)


@pytest.fixture
def any_tables(any_data_dir):
    """The synthetic tables, and (slow) the published ones."""
    return tnb_tables(any_data_dir)


@pytest.mark.slow  # the published tables
@pytest.mark.parametrize("space", [MICRO, MACRO], ids=["micro", "macro"])
@pytest.mark.parametrize("task", TASKS)
def test_params_and_flops_equal_stored_on_a_sample(space, task, tables):
    table = tables[space.name][task]
    keys = list(table)
    for key in (keys[0], keys[len(keys) // 2], keys[-1]):
        net = build_meta(space, space.parse(key), task)
        params, flops = executed_counts(net, space.tasks[task].input_shape)
        assert abs(params - table[key]["params"]["score"]) < 1e-6, key
        assert abs(flops - table[key]["flops"]["score"]) < 1e-6, key


def test_spec_examples():
    micro = {"class_scene": 0.910687, "class_object": 0.929668, "room_layout": 0.882985, "jigsaw": 5.487368,
             "autoencoder": 23.750227, "normal": 23.750227, "segmentsemantic": 11.902545}
    macro = {"class_scene": 11.218783, "class_object": 11.237764, "room_layout": 11.191081,
             "jigsaw": 15.795464, "autoencoder": 34.058323, "segmentsemantic": 22.210641}
    for space, key, expected in ((MICRO, "64-41414-1_00_210", micro), (MACRO, "64-1242-basic", macro)):
        for task, value in expected.items():
            net = build_meta(space, space.parse(key), task)
            assert abs(executed_params(net, space.tasks[task].input_shape) - value) < 1e-6, (key, task)


def test_discriminator_is_built_but_not_counted():
    for task in ("autoencoder", "normal"):
        net = build_meta(MICRO, (1, 0, 0, 2, 1, 0), task)
        assert hasattr(net, "discriminator")
        total = sum(p.numel() for p in net.parameters())
        assert total - round(executed_params(net, (3, 256, 256)) * 1e6) == DISCRIMINATOR_PARAMS
    assert not hasattr(build_meta(MICRO, (1, 0, 0, 2, 1, 0), "segmentsemantic"), "discriminator")


def test_discriminator_weights_move_with_the_network():
    # spectral_norm's `weight` is a plain tensor that only a forward refreshes, and the discriminator never
    # runs: moving the network (.to("cuda") in a study, .double() in synflow) must move it too
    net = MICRO.build((1, 0, 0, 2, 1, 0), "autoencoder").double()
    normed = [m for m in net.discriminator.modules() if hasattr(m, "weight_orig")]
    assert len(normed) == 6
    assert all(m.weight.dtype == m.weight_orig.dtype == torch.float64 for m in normed)
    net.to("meta")  # another device, as a GPU would be
    assert all(m.weight.device.type == m.weight_orig.device.type == "meta" for m in normed)


def test_encodings_round_trip(any_tables):
    tables = any_tables
    for arch in np.ndindex(4, 4, 4, 4, 4, 4):
        arch = tuple(int(v) for v in arch)
        assert MICRO.parse(MICRO.canonical_key(arch)) == arch
        assert MICRO.parse(MICRO.arch_str(arch)) == arch
    assert MICRO.parse("1_00_210") == (1, 0, 0, 2, 1, 0)
    assert MICRO.arch_str((1, 0, 0, 2, 1, 0)) == "64-41414-1_00_210"
    archs = all_macro_archs()
    assert len(archs) == len(set(archs)) == 3256
    for arch in archs:
        assert MACRO.parse(MACRO.canonical_key(arch)) == arch == MACRO.parse(MACRO.arch_str(arch))
    assert MACRO.parse("1242") == MACRO.parse("64-1242-basic") == (1, 2, 4, 2, 0, 0)
    for space in (MICRO, MACRO):
        for key in tables[space.name]["jigsaw"]:
            assert space.canonical_key(space.parse(key)) == key


@pytest.mark.parametrize("bad", ["(1, 2, 3)", "(4, 0, 0, 0, 0, 0)", "(1, 0, 0, 2, 1, True)", "64-1111-1_00_210",
                                 "1_0_210", "64-41414-1_00_2100", "[1, 2", "(1.0, 0, 0, 0, 0, 0)"])
def test_malformed_micro(bad):
    with pytest.raises(EncodingError):
        MICRO.parse(bad)


@pytest.mark.parametrize("bad", ["(1, 2, 4, 2, 0, 0, 0)", "(1, 0, 2, 4, 2, 0)", "(1, 1, 1, 1, 0, 0)",
                                 "(2, 2, 2, 2, 3, 0)", "(3, 3, 3, 3, 4, 0)", "64-12-basic", "64-1252-basic",
                                 "64-1242-1_00_210", "(5, 2, 4, 2, 0, 0)", "1234567"])
def test_malformed_macro(bad):
    with pytest.raises(EncodingError):
        MACRO.parse(bad)


def test_unknown_task():
    with pytest.raises(SwapbenchError, match="no task"):
        MICRO.build((1, 0, 0, 2, 1, 0), "cifar10")


def test_forward_shapes():
    expected = {"class_scene": (63,), "class_object": (100,), "room_layout": (9,), "jigsaw": (1000,),
                "autoencoder": (3, 256, 256), "normal": (3, 256, 256), "segmentsemantic": (17, 256, 256)}
    # real forwards on a micro arch (nominal feature width 7 -> 5 upsamplings); shape-only (meta) forwards
    # on macro skeletons with 1..4 downsamplings (decoders with 3..6 upsamplings)
    cases = [(MICRO, (1, 0, 0, 2, 1, 0), "cpu")] + [
        (MACRO, arch, "meta") for arch in ((2, 1, 3, 1, 0, 0), (4, 4, 1, 1, 0, 0), (1, 2, 4, 3, 3, 0),
                                           (3, 3, 3, 4, 0, 0))]
    for space, arch, device in cases:
        for task, shape in expected.items():
            batch = 2 if task == "jigsaw" else 1  # 4 downsamplings leave 1x1 jigsaw maps: train-mode BN needs 2
            with torch.device(device):
                net = space.build(arch, task)
                x = torch.rand(batch, *space.tasks[task].input_shape)
            assert net.training
            with torch.no_grad():
                assert net(x).shape == (batch, *shape), (space.name, arch, task)


def test_encoder_details():
    net = MACRO.build((1, 2, 4, 2, 0, 0), "class_scene")
    shortcut_bns = [m for m in net.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.eps == 1.0]
    assert shortcut_bns and all(bn.momentum == 1.0 for bn in shortcut_bns)
    conv = net.encoder.layers[-1].main[0][1]  # 3x3, 512 outputs: kaiming normal, fan_out
    assert abs(conv.weight.std().item() - (2 / (9 * 512)) ** 0.5) < 2e-3
    assert net.encoder.out_channels == 512


@pytest.mark.parametrize("space,arch", [(MICRO, (1, 0, 0, 2, 1, 3)), (MACRO, (1, 2, 4, 2, 0, 0))])
def test_encoder_is_the_task_networks_encoder(space, arch):
    with torch.device("meta"):
        alone, net = space.encoder(arch), space.build(arch, "class_scene")
    assert [p.shape for p in alone.parameters()] == [p.shape for p in net.encoder.parameters()]
    assert (alone.out_channels, alone.nominal_width) == (net.encoder.out_channels, net.encoder.nominal_width)


def test_prepare_batch():
    x = torch.randn(4, 3, 256, 256).clamp(-1, 1)
    labels = torch.arange(4)
    for space in (MICRO, MACRO):
        for task in TASKS:
            info = space.tasks[task]
            a = space.prepare_batch(task, x, labels, torch.Generator().manual_seed(5))
            b = space.prepare_batch(task, x, labels, torch.Generator().manual_seed(5))
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
            inputs, targets = a
            assert inputs.shape == (4, *info.input_shape) and inputs.dtype == torch.float32
            if task.startswith("class_"):
                assert targets.shape == (4, info.num_classes) and torch.allclose(targets.sum(1), torch.ones(4))
            elif task == "room_layout":
                assert targets.shape == (4, 9) and targets.dtype == torch.float32
            elif task == "autoencoder":
                assert torch.equal(targets, inputs)
            elif task == "normal":
                assert targets.shape == (4, 3, 256, 256) and 0 <= targets.min() and targets.max() <= 1
            elif task == "segmentsemantic":
                assert targets.shape == (4, 256, 256) and targets.dtype == torch.int64
                assert 0 <= targets.min() and targets.max() <= 16
            else:
                assert targets.dtype == torch.int64 and targets.shape == (4,) and targets.max() < 1000
                assert 0 <= inputs.min() and inputs.max() <= 1
            if task in ("segmentsemantic", "jigsaw"):  # class logits
                output = torch.zeros(4, info.num_classes, *targets.shape[1:])
            else:
                output = torch.zeros_like(targets, dtype=torch.float32)
            assert torch.isfinite(space.loss_fn(task)(output, targets))
    perms = permutations()
    assert perms.shape == (1000, 9) and len({tuple(p) for p in perms.tolist()}) == 1000


def test_reg_defaults():
    assert reg_swap_prior("nb101", "cifar10") == 40 and reg_swap_prior("nb301", "cifar10") == 1.8
    for space in (MICRO, MACRO):
        values = {t: reg_swap_prior(space, t) for t in TASKS}
        assert all(v and v > 0 for v in values.values())
        assert values["autoencoder"] > values["segmentsemantic"] > values["class_scene"]


def test_micro_full_space_truth(any_data_dir):
    data_dir = any_data_dir
    truth = load_truth(MICRO, "room_layout", data_dir, "tnb-micro-all")
    assert len(truth) == 4096 and len(set(truth.archs)) == 4096
    assert np.isfinite(truth.accuracy).all()
    with pytest.raises(SwapbenchError):
        load_truth(MACRO, "room_layout", data_dir, "tnb-micro-all")
