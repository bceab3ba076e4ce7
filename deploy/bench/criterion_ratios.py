#!/usr/bin/env python3
"""Prints each criterion benchmark of a pair next to its same-run baseline, as a ratio.

Usage: criterion_ratios.py GROUP/BENCH:GROUP/BASELINE ...  (reads target/criterion)
"""
import json
import pathlib
import sys

ROOT = pathlib.Path("target/criterion")


def mean_ns(bench: str) -> float:
    path = ROOT / bench / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"]


def main() -> int:
    print(f"{'benchmark':40} {'mean':>12} {'baseline':>12} {'ratio':>8} {'per second':>14}")
    for pair in sys.argv[1:]:
        bench, baseline = pair.split(":")
        ours, base = mean_ns(bench), mean_ns(baseline)
        print(f"{bench:40} {ours:10.2f}ns {base:10.2f}ns {ours / base:7.2f}x {1e9 / ours:14,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
