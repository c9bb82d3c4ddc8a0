"""Every benchmark still runs (tiny sizes) and prints its table; speed is not asserted here."""

import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).parents[1] / "benchmarks" / "run.py"
TOPICS = sorted(p.stem.removeprefix("bench_") for p in RUNNER.parent.glob("bench_*.py"))


@pytest.mark.parametrize("topic", TOPICS)
def test_benchmark_runs_quick(topic):
    result = subprocess.run(
        [sys.executable, str(RUNNER), topic, "--quick"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    table_rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table_rows) >= 3, result.stdout  # a header, a rule and at least one row
