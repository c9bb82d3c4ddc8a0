"""Run the benchmarks: each `bench_<topic>.py` prints one table measured side by side with its
references in the same run.

    python benchmarks/run.py                 # every benchmark, at the sizes the issues name
    python benchmarks/run.py kernels models  # some of them
    python benchmarks/run.py --quick         # tiny sizes, seconds (what the tests run)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def topics() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def run(topic: str, quick: bool) -> None:
    path = HERE / f"bench_{topic}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{topic}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    started = time.perf_counter()
    print(f"\n## {topic}{' (quick)' if quick else ''}\n", flush=True)
    module.main(quick)
    print(f"\n({topic}: {time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help=f"{', '.join(topics())} [all]")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = parser.parse_args()
    unknown = sorted(set(args.topics) - set(topics()))
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}; there are: {', '.join(topics())}")
    for topic in args.topics or topics():
        run(topic, args.quick)


if __name__ == "__main__":
    main()
