"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class SwapbenchError(Exception):
    """A problem with the user's input or data; the message says what is wrong and how to fix it."""


class DataError(SwapbenchError):
    """Missing or malformed benchmark data."""


class EncodingError(SwapbenchError):
    """An architecture encoding that a space cannot decode."""


class NotApplicable(SwapbenchError):
    """A metric whose definition does not apply to a network (e.g. zen on a net without global pooling).
    The harness records NaN for it, which the reports show as an empty cell, instead of failing a study."""
