"""User-facing errors: the CLI prints them as one line and exits with the error's code (2 unless said)."""


class SwapbenchError(Exception):
    """A problem with the user's input or data; the message says what is wrong and how to fix it."""

    exit_code = 2


class DataError(SwapbenchError):
    """Missing or malformed benchmark data."""


class EncodingError(SwapbenchError):
    """An architecture encoding that a space cannot decode."""


class StorageError(SwapbenchError):
    """A file the tool must write or read (output dir, score cache) is unusable: read-only, full disk, a
    directory where a file should be, a file that is not ours. Nothing is deleted or overwritten."""


class Interrupted(SwapbenchError):
    """Ctrl-C (exit 130) or SIGTERM (exit 143) during scoring; every score computed so far is kept."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class WorkerLost(SwapbenchError):
    """A worker process ended without handing back its result (exit 3): the OS killed it, most often for
    lack of memory. Not bad input; every score handed back before is kept, so a re-run resumes."""

    exit_code = 3


class NotApplicable(SwapbenchError):
    """A metric whose definition does not apply to a network (e.g. zen on a net without global pooling).
    The harness records NaN for it, which the reports show as an empty cell, instead of failing a study."""
