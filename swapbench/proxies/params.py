"""`params`: parameters in millions by the tensorwatch/torchstat rule NAS-Bench-Suite-Zero used
(proxies.md 2.8, spaces.md 5.4): leaf modules executed in one batch-1 eval forward of a U[0,1) input,
each counted once with its own parameters (biases and BatchNorm affine included). Not sum(numel):
modules that never run (e.g. a train-only auxiliary head) are left out. Shares its forward with `flops`.
"""

from __future__ import annotations

from swapbench.nn.counting import ModelCounts, count_model
from swapbench.proxies.registry import ProxyContext, proxy


def shared_counts(net, inputs, ctx: ProxyContext) -> ModelCounts:
    """One counting forward per architecture for both params and flops."""
    return ctx.shared(
        ("model_counts", tuple(inputs.shape[1:])),
        lambda: count_model(net, tuple(inputs.shape[1:]), ctx.generator("model-counts"), inputs.device),
    )


@proxy(
    "params",
    description="parameters (millions) of the leaf modules executed in a batch-1 eval forward",
    reference="NAS-Bench-Suite-Zero baseline; tensorwatch 0.9.1 ModelStats.parameters / 1e6",
    data="shape",
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def params(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    return shared_counts(net, inputs, ctx).params / 1e6
