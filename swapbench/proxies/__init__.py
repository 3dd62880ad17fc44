"""Training-free metrics: one module per metric, registered with `@proxy`.

Each metric is a function ``fn(net, inputs, targets, loss_fn, ctx) -> float`` whose body is only the
math; the decorator declares what the harness must do around it (copy the net, bypass BatchNorm,
enable gradients) and the metric's options. `list_proxies()` discovers every module here, then the plugins
of installed distributions (entry-point group `swapbench.proxies`, each naming a module that uses `@proxy`).
"""

from __future__ import annotations

from swapbench.proxies._shared import release_spent
from swapbench.proxies.registry import PROXIES, ProxyContext, ProxySpec, get_proxy, list_proxies, proxy

__all__ = ["PROXIES", "ProxyContext", "ProxySpec", "get_proxy", "list_proxies", "proxy", "release_spent"]
