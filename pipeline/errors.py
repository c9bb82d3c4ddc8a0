"""The one error type for bad input: the CLI prints its message alone and exits non-zero; and
the one line for a failed file operation."""

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class DataError(Exception):
    """Bad input that the user can fix: the message names the file or option and what to do."""


_ADVICE = {
    ("ENOSPC", "EDQUOT"): "free some space, then run the same command again: it resumes",
    ("EROFS",): "the folder is read-only: choose a writable one",
    ("EACCES", "EPERM"): "fix its permissions, or choose another folder",
}


def os_error_line(error: OSError) -> str:
    """One line for a failed file operation: the file, the system's reason, what to do."""
    code = errno.errorcode.get(error.errno or 0, "")
    advice = next((text for codes, text in _ADVICE.items() if code in codes), None)
    where = f"{error.filename}: " if error.filename else ""
    what = advice or "check that path, then run the same command again"
    return f"{where}{error.strerror or error} ({code or 'no errno'}); {what}"


@contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """An OSError without a file name raised inside names `path`: zarr's and matplotlib's writes
    lose it (a full disk fails as the file is written or closed), and the one line must say
    where."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
