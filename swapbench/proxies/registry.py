"""The metric registry and the harness that runs a metric the way NAS-Bench-Suite-Zero does."""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from swapbench.errors import NotApplicable, SwapbenchError
from swapbench.registry import Registry

# NAS-Bench-Suite-Zero replaces NaN/inf scores by this value (they rank as worst, not excluded).
FAILED = -1e8
NOT_APPLICABLE = float("nan")  # the metric's definition does not cover this network (see errors.NotApplicable)

ProxyFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, Callable, "ProxyContext"], float]


@dataclass(frozen=True)
class ProxySpec:
    name: str
    fn: ProxyFn
    description: str
    reference: str = ""
    needs_labels: bool = False
    needs_grad: bool = False
    copy_net: bool = True  # run on a deep copy; False where the metric only reads the net or shared passes
    bn: bool = True  # False: BatchNorm forward replaced by identity (synflow)
    direction: int = 1  # +1: higher is better
    data: str = "batch"  # "batch": real images; "shape": only the input shape; "none"
    options: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the allowed values of text options
    # (batch size, resolved options) -> the largest score a network can reach: scores at it tie, so a run
    # reports how many sit there (None: no reachable bound)
    ceiling: Callable[[int, Mapping[str, Any]], float] | None = None

    def ceiling_at(self, batch_size: int, options: Mapping[str, Any] | None = None) -> float | None:
        return None if self.ceiling is None else float(self.ceiling(batch_size, options or self.options))

    def resolve_options(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with `overrides` applied, each checked against its default's type (and `choices`), so a
        bad value fails before any work instead of at the first architecture."""
        opts = dict(self.options)
        for key, value in (overrides or {}).items():
            if key not in opts:
                known = ", ".join(sorted(opts)) or "none"
                raise SwapbenchError(f"proxy '{self.name}' has no option '{key}' (options: {known})")
            opts[key] = check_option(self.name, key, value, opts[key], self.choices.get(key))
        return opts


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_option(proxy: str, key: str, value: Any, default: Any, choices: tuple[str, ...] | None = None) -> Any:
    """`value` if it fits the option; the default's type says what fits: a count (an integer default >= 1)
    takes integers >= 1, a float any finite number, a flag true/false, a per-space default (None) a number."""
    where = f"option {proxy}.{key}"
    if choices is not None:
        if value not in choices:
            raise SwapbenchError(f"{where} must be one of {', '.join(choices)} (got {value!r})")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SwapbenchError(f"{where} must be true or false (got {value!r})")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SwapbenchError(f"{where} must be an integer (got {value!r})")
        if default >= 1 and value < 1:
            raise SwapbenchError(f"{where} must be >= 1 (got {value})")
    elif isinstance(default, float) or default is None:
        if not (_is_number(value) or (default is None and value is None)):
            raise SwapbenchError(f"{where} must be a finite number (got {value!r})")
        return value if value is None or isinstance(value, int) and default is None else float(value)
    elif isinstance(default, str) and not isinstance(value, str):
        raise SwapbenchError(f"{where} must be text (got {value!r})")
    return value


@dataclass
class ProxyContext:
    """Everything besides (net, inputs, targets, loss) a metric may need."""

    space: Any = None  # SearchSpace
    task: str = ""
    seed: int = 0
    arch_key: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    memo: dict[Hashable, Any] = field(default_factory=dict)  # shared across metrics of one arch
    # the names of every metric that will score this architecture with this memo: a shared pass computes
    # in one go every part those metrics read (empty: only the part asked for)
    planned: frozenset[str] = frozenset()

    def opt(self, name: str) -> Any:
        return self.options[name]

    def shared(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Compute once per architecture and share between metrics (e.g. swap and reg_swap)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def generator(self, salt: str, device: torch.device | str = "cpu") -> torch.Generator:
        """A generator seeded from (seed, arch, salt): scores do not depend on scoring order."""
        digest = hashlib.sha256(f"{self.seed}|{self.arch_key}|{salt}".encode()).digest()
        gen = torch.Generator(device=device)
        gen.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
        return gen


# other distributions add metrics through this entry-point group: each entry names a module whose import
# registers `@proxy` functions
PLUGIN_GROUP = "swapbench.proxies"
PROXIES: Registry[ProxySpec] = Registry("proxy", "swapbench.proxies", plugin_group=PLUGIN_GROUP)


def proxy(name: str, *, description: str, **meta: Any) -> Callable[[ProxyFn], ProxyFn]:
    """Register a metric function under `name`; `meta` fills the other ProxySpec fields."""

    def wrap(fn: ProxyFn) -> ProxyFn:
        PROXIES.add(name, ProxySpec(name=name, fn=fn, description=description, **meta))
        return fn

    return wrap


def get_proxy(name: str) -> ProxySpec:
    return PROXIES.get(name)


def list_proxies() -> list[str]:
    return PROXIES.names()


class _BypassBN(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def bypass_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every BatchNorm by identity (NASLib's bn=False), in place."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, _BypassBN())
        else:
            bypass_batchnorm(child)
    return net


def run_proxy(
    spec: ProxySpec,
    net: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable,
    ctx: ProxyContext,
) -> float:
    """Apply the harness semantics the spec declares, call the metric, map NaN/inf to FAILED."""
    if spec.copy_net:
        net = copy.deepcopy(net)
    if not spec.bn:
        bypass_batchnorm(net)
    net.train()
    with torch.set_grad_enabled(spec.needs_grad):
        try:
            value = spec.fn(net, inputs, targets, loss_fn, ctx)
        except NotApplicable:
            return NOT_APPLICABLE
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return FAILED
    return value
