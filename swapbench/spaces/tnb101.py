"""TransNAS-Bench-101 (Duan et al., CVPR 2021): micro (cell, 4096 archs) and macro (skeleton, 3256 archs)
spaces, each on 7 Taskonomy tasks, with the networks NAS-Bench-Suite-Zero scored (see `_tnb101`).

Encodings understood by `parse`:
- micro: NAS-Bench-Suite-Zero keys '(a, b, c, d, e, f)' (cell op codes 0 zero, 1 skip, 2 conv1x1,
  3 conv3x3, in the TNB string order), TNB strings '64-41414-a_bc_def' and 'a_bc_def'.
- macro: keys '(1, 2, 4, 2, 0, 0)' (4..6 layer codes in 1..4, zero padded to 6), TNB strings
  '64-1242-basic' and '1242'. Valid skeletons downsample 1..4 times and double the channels 1..3 times.
The canonical key is the NAS-Bench-Suite-Zero tuple.

Task inputs are 3x256x256 Taskonomy frames (jigsaw: 9 tiles of 3x64x64). `prepare_batch` builds
SYNTHETIC targets of the right shape and type from the batch's generator (no Taskonomy labels are used):
soft label vectors for class_*, a standardised 9-d vector for room_layout, the input for autoencoder, a
smooth image in [0, 1] for normal, a blocky 17-class label map for segmentsemantic, and a permutation id
for jigsaw (from a fixed set of 1000 permutations; the benchmark's maximal-Hamming set is not distributed).
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from swapbench.errors import EncodingError
from swapbench.spaces import register_space
from swapbench.spaces._tnb101 import Encoder, TaskNetwork
from swapbench.spaces.base import JsonListTruth, SearchSpace, TaskInfo, literal

MICRO_SKELETON = (4, 1, 4, 1, 4)
CELL_OPS = ("none", "skip_connect", "conv1x1", "conv3x3")
SEG_CLASSES = 17
JIGSAW_TILES, JIGSAW_TILE, JIGSAW_CELL = 9, 64, 85
N_PERMUTATIONS = 1000
# Input normalisation: the image loader hands out frames normalised with mean = std = 0.5 (the autoencoder,
# normal and segmentsemantic convention); `prepare_batch` converts to the class_* / room_layout statistics.
PIXEL_MEAN = (0.5, 0.5, 0.5)
PIXEL_STD = (0.5, 0.5, 0.5)
CLASS_MEAN = (0.5224, 0.5222, 0.5221)
CLASS_STD = (0.2234, 0.2235, 0.2236)

Arch = tuple[int, ...]  # 6 codes (macro: zero padded)


def _task(name: str, shape: tuple[int, ...], n_out: int | None, loss: str) -> TaskInfo:
    return TaskInfo(name, "taskonomy", shape, num_classes=n_out, loss=loss, default_batch_size=32)


IMAGE = (3, 256, 256)
TASKS = {
    "class_scene": _task("class_scene", IMAGE, 63, "soft_cross_entropy"),
    "class_object": _task("class_object", IMAGE, 100, "soft_cross_entropy"),
    "autoencoder": _task("autoencoder", IMAGE, None, "l1"),
    "normal": _task("normal", IMAGE, None, "l1"),
    "jigsaw": _task("jigsaw", (JIGSAW_TILES, 3, JIGSAW_TILE, JIGSAW_TILE), N_PERMUTATIONS, "cross_entropy"),
    "room_layout": _task("room_layout", IMAGE, 9, "mse"),
    "segmentsemantic": _task("segmentsemantic", IMAGE, SEG_CLASSES, "cross_entropy"),
}


# ---------------------------------------------------------------------------------------------
# encodings


def micro_str(arch: Arch) -> str:
    a, b, c, d, e, f = arch
    return f"64-{''.join(map(str, MICRO_SKELETON))}-{a}_{b}{c}_{d}{e}{f}"


def macro_codes(arch: Arch) -> tuple[int, ...]:
    return tuple(v for v in arch if v)


def macro_str(arch: Arch) -> str:
    return f"64-{''.join(map(str, macro_codes(arch)))}-basic"


_MICRO_STR = re.compile(r"^(?:64-(\d+)-)?([0-3])_([0-3]{2})_([0-3]{3})$")
_MACRO_STR = re.compile(r"^(?:64-)?(\d+)(?:-basic)?$")


def parse_micro(key: str) -> Arch:
    text = str(key).strip()
    match = _MICRO_STR.match(text)
    if match:
        if match.group(1) and tuple(int(v) for v in match.group(1)) != MICRO_SKELETON:
            raise EncodingError(f"TNB micro string {text!r}: the micro space uses the skeleton 64-41414")
        return tuple(int(v) for v in "".join(match.groups()[1:]))
    if "_" in text or text.startswith("64-"):
        raise EncodingError(f"malformed TNB micro string {text!r}: expected 64-41414-a_bc_def with codes 0..3")
    value = literal(text, "TNB micro")
    if (not isinstance(value, (tuple, list)) or len(value) != 6
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 3 for v in value)):
        raise EncodingError(
            f"malformed TNB micro encoding {key!r}: expected 6 cell op codes in 0..3 or a string 64-41414-a_bc_def"
        )
    return tuple(value)


def check_macro(codes: tuple[int, ...], key: str) -> Arch:
    if not 4 <= len(codes) <= 6 or not all(1 <= v <= 4 for v in codes):
        raise EncodingError(f"malformed TNB macro encoding {key!r}: expected 4..6 layer codes in 1..4")
    downs, doubles = sum(v > 2 for v in codes), sum(v % 2 == 0 for v in codes)
    if not 1 <= downs <= 4 or not 1 <= doubles <= 3:
        raise EncodingError(
            f"TNB macro encoding {key!r} is outside the space: it downsamples {downs} times (allowed 1..4) and "
            f"doubles the channels {doubles} times (allowed 1..3)"
        )
    return (*codes, *(0,) * (6 - len(codes)))


def parse_macro(key: str) -> Arch:
    text = str(key).strip()
    if text.startswith("64-") or text.endswith("-basic") or text.isdigit():
        match = _MACRO_STR.match(text)
        if not match:
            raise EncodingError(f"malformed TNB macro string {text!r}: expected 64-<4..6 codes in 1..4>-basic")
        return check_macro(tuple(int(v) for v in match.group(1)), text)
    value = literal(text, "TNB macro")
    if (not isinstance(value, (tuple, list)) or len(value) != 6
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise EncodingError(
            f"malformed TNB macro encoding {key!r}: expected 6 layer codes (zero padded) or a string 64-1242-basic"
        )
    codes = macro_codes(tuple(value))
    if tuple(value) != (*codes, *(0,) * (6 - len(codes))):
        raise EncodingError(f"malformed TNB macro encoding {key!r}: zeros may only pad the end")
    return check_macro(codes, text)


@lru_cache(maxsize=1)
def all_macro_archs() -> tuple[Arch, ...]:
    """Every valid macro skeleton (3256)."""
    out = []
    for length in (4, 5, 6):
        for codes in itertools.product((1, 2, 3, 4), repeat=length):
            try:
                out.append(check_macro(codes, ""))
            except EncodingError:
                pass
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# batches


@lru_cache(maxsize=1)
def permutations() -> torch.Tensor:
    """A fixed set of 1000 distinct permutations of the 9 jigsaw tiles (seeded, first = identity)."""
    rng = np.random.default_rng(20210609)
    perms = [tuple(range(JIGSAW_TILES))]
    seen = set(perms)
    while len(perms) < N_PERMUTATIONS:
        p = tuple(int(v) for v in rng.permutation(JIGSAW_TILES))
        if p not in seen:
            seen.add(p)
            perms.append(p)
    return torch.tensor(perms, dtype=torch.int64)


def _renormalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """From the loader's 0.5/0.5 normalisation to (x01 - mean) / std."""
    x01 = x * torch.tensor(PIXEL_STD).view(1, -1, 1, 1) + torch.tensor(PIXEL_MEAN).view(1, -1, 1, 1)
    return (x01 - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def jigsaw_batch(x01: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize to 255, cut 3x3 cells of 85 px, a random 64x64 crop per cell, shuffle by a permutation id."""
    b = x01.shape[0]
    img = F.interpolate(x01, size=(3 * JIGSAW_CELL, 3 * JIGSAW_CELL), mode="bilinear", align_corners=False)
    offsets = torch.randint(0, JIGSAW_CELL - JIGSAW_TILE + 1, (b, JIGSAW_TILES, 2), generator=gen)
    ids = torch.randint(0, N_PERMUTATIONS, (b,), generator=gen)
    perms = permutations()[ids]
    tiles = torch.empty((b, JIGSAW_TILES, x01.shape[1], JIGSAW_TILE, JIGSAW_TILE))
    for i in range(b):
        for pos in range(JIGSAW_TILES):
            cell = int(perms[i, pos])
            y0 = (cell // 3) * JIGSAW_CELL + int(offsets[i, cell, 0])
            x0 = (cell % 3) * JIGSAW_CELL + int(offsets[i, cell, 1])
            tiles[i, pos] = img[i, :, y0 : y0 + JIGSAW_TILE, x0 : x0 + JIGSAW_TILE]
    return tiles.clamp_(0.0, 1.0), ids


def synthetic_batch(task: str, inputs: torch.Tensor, labels: torch.Tensor, gen: torch.Generator,
                    n_out: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    b, _, h, w = inputs.shape
    if task in ("class_scene", "class_object"):
        k = int(n_out or 0)
        logits = 2.0 * torch.randn((b, k), generator=gen)
        logits[torch.arange(b), labels.long() % k] += 4.0
        return _renormalise(inputs, CLASS_MEAN, CLASS_STD), torch.softmax(logits, dim=1)
    if task == "room_layout":
        return _renormalise(inputs, CLASS_MEAN, CLASS_STD), torch.randn((b, 9), generator=gen)
    if task == "autoencoder":
        return inputs, inputs.clone()
    if task == "normal":
        coarse = torch.rand((b, 3, 8, 8), generator=gen)
        return inputs, F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
    if task == "segmentsemantic":
        coarse = torch.randint(0, SEG_CLASSES, (b, 1, 16, 16), generator=gen).float()
        return inputs, F.interpolate(coarse, size=(h, w), mode="nearest")[:, 0].long()
    if task == "jigsaw":
        x01 = inputs * torch.tensor(PIXEL_STD).view(1, -1, 1, 1) + torch.tensor(PIXEL_MEAN).view(1, -1, 1, 1)
        return jigsaw_batch(x01, gen)
    raise EncodingError(f"unknown TransNAS-Bench-101 task {task!r}")


# ---------------------------------------------------------------------------------------------


class TNB101Space(SearchSpace):
    micro: bool = True

    def parse(self, key: str, data_dir: Path | None = None) -> Arch:
        return parse_micro(key) if self.micro else parse_macro(key)

    def canonical_key(self, arch: Arch) -> str:
        return str(tuple(arch))

    def arch_str(self, arch: Arch) -> str:
        return micro_str(arch) if self.micro else macro_str(arch)

    def build(self, arch: Arch, task: str) -> nn.Module:
        info = self.task(task)
        if self.micro:
            net = TaskNetwork(MICRO_SKELETON, tuple(arch), task, info.num_classes)
        else:
            net = TaskNetwork(macro_codes(tuple(arch)), None, task, info.num_classes)
        return net.train()

    def encoder(self, arch: Arch) -> nn.Module:
        """The task-independent encoder of `arch`'s networks (each task network is it plus a task head; the
        head depends only on its `out_channels` and `nominal_width`): size statistics count it once per arch."""
        if self.micro:
            return Encoder(MICRO_SKELETON, tuple(arch))
        return Encoder(macro_codes(tuple(arch)), None)

    def random_arch(self, rng: np.random.Generator) -> Arch:
        if self.micro:
            return tuple(int(v) for v in rng.integers(0, len(CELL_OPS), size=6))
        archs = all_macro_archs()
        return archs[int(rng.integers(len(archs)))]

    def prepare_batch(self, task: str, inputs: torch.Tensor, labels: torch.Tensor,
                      gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return synthetic_batch(task, inputs, labels, gen, self.task(task).num_classes)

    def describe(self, arch: Arch) -> dict[str, str]:
        return {"key": self.canonical_key(arch), "arch_str": self.arch_str(arch)}


class TNB101Micro(TNB101Space):
    micro = True


class TNB101Macro(TNB101Space):
    micro = False


register_space(
    TNB101Micro(
        name="tnb101_micro",
        description="TransNAS-Bench-101 micro (cell) space, 4096 archs, 7 Taskonomy tasks",
        tasks=dict(TASKS),
        nbsz_file="zc_transbench101_micro.json",
        extra_truths={
            "tnb-micro-all": JsonListTruth(
                "nas-bench-suite-zero/zen/benchmark--transbench101_micro--{task}--*.json",
                description="all 4096 micro archs per task (val_accuracy of NAS-Bench-Suite-Zero's zen files; "
                            "close to but not identical with the nbsz table's values)",
            ),
        },
    )
)
register_space(
    TNB101Macro(
        name="tnb101_macro",
        description="TransNAS-Bench-101 macro (skeleton) space, 3256 archs, 7 Taskonomy tasks",
        tasks=dict(TASKS),
        nbsz_file="zc_transbench101_macro.json",
    )
)
