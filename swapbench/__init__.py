"""swapbench: score untrained NAS-benchmark networks with training-free metrics and correlate them.

The public API (`swapbench.build_network`, `score`, `correlate`, `study`, `regress`, `rerender`, ...) lives
in swapbench.api and is loaded on first use, so that `import swapbench` stays light."""

import types
from typing import Any

from swapbench.version import __version__ as __version__

_API = ("build_network", "score", "correlate", "regress", "rerender", "ablation_input_size",
        "ablation_regularisation", "size_control", "import_scores", "Result", "Score", "Regression")


def __getattr__(name: str) -> Any:
    if name in _API:
        from swapbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'swapbench' has no attribute {name!r}")


class _StudyPackage(types.ModuleType):
    """`swapbench.study(config)` runs a study (swapbench.api.study), while `swapbench.study.engine` and the
    other modules stay reachable: the package of that name is also the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from swapbench.api import study

        return study(*args, **kwargs)


from swapbench import study as _study_package  # noqa: E402  (an empty package: cheap)

_study_package.__class__ = _StudyPackage
