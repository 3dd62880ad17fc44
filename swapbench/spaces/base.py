"""The interface every search space implements."""

from __future__ import annotations

import ast
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from swapbench.errors import EncodingError, SwapbenchError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ReluConvBn(nn.Sequential):
    """ReLU -> Conv2d (no bias, 'same' padding) -> BatchNorm2d: the op block of NB201 and TNB101 cells."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


@dataclass(frozen=True)
class TaskInfo:
    """What a (space, task) pair needs from the data side."""

    name: str
    dataset: str  # image-set name understood by swapbench.data.images
    input_shape: tuple[int, ...]  # per sample, e.g. (3, 32, 32)
    num_classes: int | None = None
    loss: str = "cross_entropy"
    default_batch_size: int = 64  # NAS-Bench-Suite-Zero: 64, TransNAS-Bench-101: 32


@dataclass(frozen=True)
class CsvTruth:
    """A built-in ground-truth table stored as CSV in the data dir."""

    path: str  # relative to the data dir
    arch_column: str
    acc_columns: dict[str, str]  # task -> column
    description: str = ""


@dataclass(frozen=True)
class JsonListTruth:
    """A built-in ground-truth table stored as JSON files, each a list of records (e.g. NAS-Bench-Suite-Zero's
    `zen/benchmark--transbench101_micro--TASK--K.json`). `pattern` is a glob relative to the data dir in
    which `{task}` is replaced by the task name; the matching files are read in sorted order."""

    pattern: str
    arch_field: str = "arch"
    acc_field: str = "val_accuracy"
    tasks: tuple[str, ...] = ()  # empty: every task of the space
    description: str = ""


@dataclass
class SearchSpace(ABC):
    """Encodings, network building, sampling and tasks. Optional capabilities are structural (typing
    Protocols declared where they are used): `mutate` + `crossover` make a space searchable
    (search.run.Searchable), `build_thin` gives num_lr's TE-NAS thin network (proxies.num_lr.ThinNetworks)."""

    name: str
    description: str
    tasks: dict[str, TaskInfo]
    # NAS-Bench-Suite-Zero table: file name and the path of keys down to the per-task dict
    nbsz_file: str
    nbsz_prefix: tuple[str, ...] = ()
    extra_truths: dict[str, CsvTruth | JsonListTruth] = field(default_factory=dict)
    # parameters per unit of Θ, the model size reg_swap regularises (1e6: millions; the official SWAP
    # one-cell DARTS network counts thousands)
    size_unit: float = 1e6

    # -- encodings -----------------------------------------------------------------------
    @abstractmethod
    def parse(self, key: str, data_dir: Path | None = None) -> Hashable:
        """Decode any encoding this space understands into its canonical architecture."""

    @abstractmethod
    def canonical_key(self, arch: Hashable) -> str:
        """A stable string for `arch` (used as the cache key)."""

    # -- networks ------------------------------------------------------------------------
    @abstractmethod
    def build(self, arch: Hashable, task: str) -> nn.Module:
        """A freshly initialised network in train mode (PyTorch default init)."""

    @abstractmethod
    def random_arch(self, rng: np.random.Generator) -> Hashable:
        """One architecture drawn uniformly from the space."""

    # -- shared helpers ------------------------------------------------------------------
    def with_options(self, name: str) -> SearchSpace:
        """This space on another network, from a name with options such as `darts[C=16,L=8]`; a space
        whose network takes no options refuses them."""
        raise SwapbenchError(f"space '{name}' takes no network options")

    def task(self, task: str) -> TaskInfo:
        if task not in self.tasks:
            raise SwapbenchError(
                f"space '{self.name}' has no task '{task}'; choose one of: {', '.join(self.tasks)}"
            )
        return self.tasks[task]

    def loss_fn(self, task: str) -> LossFn:
        return LOSSES[self.task(task).loss]

    def prepare_batch(
        self, task: str, inputs: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn an image batch into the task's (inputs, targets); classification needs nothing."""
        return inputs, labels

    def describe(self, arch: Hashable) -> dict[str, Any]:
        return {"key": self.canonical_key(arch)}


def literal(key: str, what: str) -> Any:
    """Parse a NASLib key such as '(0, 2, 3, 2, 3, 1)' safely."""
    try:
        return ast.literal_eval(key.strip())
    except (ValueError, SyntaxError) as exc:
        raise EncodingError(f"malformed {what} encoding {key!r}: not a Python literal") from exc


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """TransNAS-Bench-101's SoftmaxCrossEntropyWithLogits (soft targets, +1e-5 inside the log)."""
    return torch.mean(-(target * torch.log(torch.softmax(logits, dim=1) + 1e-5)).sum(dim=1))


LOSSES: dict[str, LossFn] = {
    "cross_entropy": F.cross_entropy,
    "soft_cross_entropy": soft_cross_entropy,
    "l1": F.l1_loss,
    "mse": F.mse_loss,
}
