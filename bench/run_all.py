"""Run every benchmark: ``python -m bench.run_all [--quick]`` (``make bench``, ``bench-quick``).

Each benchmark prints its table and writes JSON to ``bench/out/<name>.json``. ``--quick`` uses
inputs small enough for CI; the figures in BENCHMARKS.md come from the full sizes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

OUT = Path(__file__).parent / "out"

#: module -> (full arguments, quick arguments); a module run twice has a ``module#name`` key
BENCHMARKS = {
    "bench.bench_core": (
        ["--events", "1000000", "--runs", "5"],
        ["--events", "50000", "--runs", "1"],
    ),
    # the second input shape: fewer, larger groups (100 devices)
    "bench.bench_core#bench_core_100_devices": (
        ["--events", "1000000", "--runs", "5", "--devices", "100"],
        ["--events", "50000", "--runs", "1", "--devices", "100"],
    ),
    "bench.bench_memory": (
        ["--devices", "100000", "--minutes", "3"],
        ["--devices", "2000", "--minutes", "2"],
    ),
    "bench.bench_kcl_protocol": (
        ["--events", "200000", "--runs", "7"],
        ["--events", "20000", "--runs", "1"],
    ),
    "bench.bench_producer": ([], ["--quick"]),
    "bench.bench_e2e": (["--devices", "200", "--minutes", "10", "--speed", "60"], ["--quick"]),
    "bench.bench_reports": ([], ["--quick"]),
    "bench.bench_firehose_packing": ([], ["--devices", "200", "--minutes", "5"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized inputs")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    failed = []
    for key, (full, quick) in BENCHMARKS.items():
        module, _, name = key.partition("#")
        if find_spec(module) is None:
            print(f"== {module}: not present, skipped")
            continue
        name = name or module.rsplit(".", 1)[1]
        command = [
            sys.executable,
            "-m",
            module,
            *(quick if args.quick else full),
            "--json",
            str(OUT / f"{name}.json"),
        ]
        print(f"== {' '.join(command[2:])}", flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
