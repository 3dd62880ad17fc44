"""Forward hooks: one no-grad forward with hooks that are always removed again, and the recording of every
activation call (ReLU, GELU and ReLU-named classes of other projects) as packed binary patterns."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from swapbench.nn.patterns import pack_samples


def hooked_forward(net: nn.Module, modules: list[nn.Module], hook: Callable, inputs: torch.Tensor) -> Any:
    """One no-grad forward with `hook` as a forward hook on `modules`, removed again even if the forward fails."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            return net(inputs)
    finally:
        for h in handles:
            h.remove()


def call_identity(module: nn.Module, x: torch.Tensor) -> tuple:
    """Key of an activation call's input: two calls with the same key (same activation type applied to
    the same, unmodified tensor) produce identical outputs."""
    return (type(module), x.data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(), x._version)


def is_project_class(module: nn.Module) -> bool:
    """A module class defined by this project (NASLib's nwot excludes its own classes the same way)."""
    return type(module).__module__.startswith("swapbench")


@dataclass
class ActivationCall:
    """One call of an activation module in the forward, with 1[input > 0] per sample and unit.

    For ReLU, LeakyReLU and GELU, input > 0 is the same as output > 0.
    """

    name: str  # class name
    relu: bool  # isinstance nn.ReLU
    gelu: bool  # isinstance nn.GELU
    relu_named: bool  # class name contains "ReLU" and the class is not one of this project's
    dim: int  # dimensionality of the input tensor
    units: int  # units per sample
    bits: torch.Tensor  # (S, ceil(units/8)) uint8, see patterns.pack_samples
    duplicate: bool  # same input tensor as an earlier call of the same class (identical bits)


def _is_recorded(m: nn.Module) -> bool:
    return isinstance(m, (nn.ReLU, nn.GELU)) or ("ReLU" in type(m).__name__ and not is_project_class(m))


def recorded_modules(net: nn.Module) -> list[nn.Module]:
    """The modules whose calls `activation_recorder` records."""
    return [m for m in net.modules() if _is_recorded(m)]


class SeenInputs:
    """The activation-call inputs of one forward, by `call_identity`, with a value kept for each.

    Each entry holds a weak reference to the input's storage, never the input: while that storage lives no
    other tensor can have its address, so a key match is the same data; once it is freed (as a checkpointed
    block or a no-grad forward frees it) a match is a new tensor. So no input outlives its use.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple, tuple[weakref.ref, Any]] = {}

    def find(self, module: nn.Module, x: torch.Tensor) -> tuple[bool, Any]:
        """(True, value) if `x` was added for this activation type and is still alive, else (False, None)."""
        entry = self._seen.get(call_identity(module, x))
        if entry is not None and entry[0]() is not None:
            return True, entry[1]
        return False, None

    def add(self, module: nn.Module, x: torch.Tensor, value: Any = None) -> None:
        self._seen[call_identity(module, x)] = (weakref.ref(x.untyped_storage()), value)

    def clear(self) -> None:
        self._seen.clear()


def activation_recorder() -> tuple[Callable, list[ActivationCall], SeenInputs]:
    """A forward hook for `recorded_modules`, the list it fills (one ActivationCall per call), and the
    record of inputs seen so far (clear it once the forward is over)."""
    calls: list[ActivationCall] = []
    seen = SeenInputs()

    def hook(module: nn.Module, args: tuple, _output: torch.Tensor) -> None:
        x = args[0]
        duplicate, bits = seen.find(module, x)
        if not duplicate:
            bits = pack_samples(x.detach().reshape(x.shape[0], -1) > 0)
            seen.add(module, x, bits)
        calls.append(ActivationCall(
            name=type(module).__name__,
            relu=isinstance(module, nn.ReLU),
            gelu=isinstance(module, nn.GELU),
            relu_named="ReLU" in type(module).__name__ and not is_project_class(module),
            dim=x.dim(),
            units=int(x[0].numel()),
            bits=bits,
            duplicate=duplicate,
        ))

    return hook, calls, seen


def record_calls(net: nn.Module, inputs: torch.Tensor) -> list[ActivationCall]:
    """The activation calls of one no-grad forward of `net` itself, in its current train/eval mode."""
    hook, calls, _ = activation_recorder()
    hooked_forward(net, recorded_modules(net), hook, inputs)
    return calls


def record_activations(net: nn.Module, inputs: torch.Tensor) -> list[ActivationCall]:
    """The activation calls of a train-mode forward of a copy of `net` (the caller's net is left as it is)."""
    return record_calls(copy.deepcopy(net).train(), inputs)
