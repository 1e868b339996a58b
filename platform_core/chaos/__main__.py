"""`python -m platform_core.chaos` (`make chaos`): a chaos run, its tables printed; the exit
status is 0 only when the history checker and the canaries found nothing; 130 when it was
stopped (SIGINT or SIGTERM), after stopping the platform it started."""

from __future__ import annotations

import argparse
import asyncio
import sys

from platform_core.chaos.faults import FaultKind
from platform_core.chaos.run import ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_core.chaos", description=__doc__)
    parser.add_argument("--intents", type=int, default=10_000)
    parser.add_argument("--faults", type=int, default=60, help="faults over the whole run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=8.0, help="submissions per second")
    parser.add_argument(
        "--kinds", default="", help=f"comma-separated fault kinds (default every one: "
        f"{', '.join(k.value for k in FaultKind)})",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the run's data even when clean")
    args = parser.parse_args(argv)
    kinds = tuple(FaultKind(k.strip()) for k in args.kinds.split(",") if k.strip()) or None
    config = ChaosConfig(intents=args.intents, faults=args.faults, seed=args.seed,
                         kinds=kinds, rate_per_s=args.rate, keep=args.keep)  # fmt: skip
    try:
        result = run_chaos(config)
    except asyncio.CancelledError:
        print("chaos: stopped before the end; the platform it started is stopped, no verdict",
              file=sys.stderr)  # fmt: skip
        return 130
    print(result.text)
    print(f"chaos: the run's records are in {result.out_dir}")
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
