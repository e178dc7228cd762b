"""User-facing errors.

Every problem caused by the caller's input (a bad shape, an unknown name, a missing file) is an
:class:`UnsureError`. The CLI turns it into one line on stderr and exit code 2; Python users get a
message that names the problem instead of a traceback from deep inside torch.
"""


class UnsureError(ValueError):
    """A problem with the caller's input, explained in the message."""


class DataError(UnsureError):
    """A data file is missing, truncated or in an unexpected format."""


class UnsureWarning(UserWarning):
    """Something the user should know that is not an error (a default changed because of the
    model, an old spelling); the CLI prints it as one line ``unsure: warning: ...``."""
