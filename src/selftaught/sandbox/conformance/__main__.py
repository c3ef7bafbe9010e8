"""``python -m selftaught.sandbox.conformance [EXECUTOR] [--tier A|B|C] [--attack CLASS] [--list]``

Checks a registered executor (entry-point group ``selftaught.executors``; default ``local``) and prints
one line per failed case; the exit status is 1 if any applicable case failed."""

from __future__ import annotations

import argparse
import sys

from selftaught import plugins
from selftaught.safe_text import clean
from selftaught.sandbox.conformance import CASES, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selftaught.sandbox.conformance", description=__doc__)
    parser.add_argument("executor", nargs="?", default="local", help="a registered executor (default: local)")
    parser.add_argument("--tier", choices=["A", "B", "C"], help="hold it to this tier (default: its label's)")
    parser.add_argument("--attack", choices=sorted({c.attack for c in CASES}), help="only this attack class")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            if args.attack in (None, case.attack):
                expected = "scenario" if case.drive else "/".join(case.verdicts)
                print(f"{case.attack:12s} {case.name:38s} {case.tiers:4s} {expected:28s} {case.why}")
        return 0
    executor = plugins.load("executor", args.executor)()
    try:
        report = check(executor, tier=args.tier, attack=args.attack)
    finally:
        executor.close()
    print(clean(report.summary()))  # a failed case quotes what the program returned
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
