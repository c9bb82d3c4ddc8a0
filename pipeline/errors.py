"""The one error type for bad input: the CLI prints its message alone and exits non-zero."""


class DataError(Exception):
    """Bad input that the user can fix: the message names the file or option and what to do."""
