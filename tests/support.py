"""Helpers shared by tests: run the CLI in a subprocess, compare stores by bytes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


def c2p_data(*args: object, check: bool = True, **popen) -> subprocess.CompletedProcess:
    """Run `c2p-data ARGS` as a user would, in a fresh interpreter."""
    command = [sys.executable, "-m", "c2p4d.pipeline", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, **popen)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
    return result


def store_digests(path: Path) -> dict[str, str]:
    """sha256 of every file of a store, by relative path."""
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(Path(path).rglob("*"))
        if f.is_file()
    }
