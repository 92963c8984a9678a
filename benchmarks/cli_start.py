"""CLI start-up benchmark: what a responder waits for before the first answer.

Prints figures, asserts nothing (speed is measured here, never in the test suite). Two paired
comparisons, each the median of interleaved runs so that load from other processes falls on
both sides alike:

- ``rollback-advisor --help`` against ``python -c 'import click'`` (target: <= 2x);
- ``rollback-advisor suspects TARGET --at T`` on the demo store (``rollback-advisor demo`` is
  run first into a temporary data directory; target and onset from the demo's incident.yaml)
  against ``python -c pass`` (target: <= 15x, about 0.2 s).

    python benchmarks/cli_start.py                 # 15 pairs each
    python benchmarks/cli_start.py --pairs 31 --format json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _command() -> list[str]:
    """The installed console script when it sits beside this interpreter, else ``-m``."""
    script = Path(sys.executable).with_name("rollback-advisor")
    if script.exists():
        return [str(script)]
    found = shutil.which("rollback-advisor")
    return [found] if found else [sys.executable, "-m", "rollback_advisor.cli"]


def _run(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-2000:]}")
    return elapsed


def paired(subject: list[str], yardstick: list[str], pairs: int,
           env: dict[str, str]) -> tuple[float, float]:
    """Medians (seconds) of ``subject`` and ``yardstick``, run alternately, one warm-up each."""
    _run(subject, env)
    _run(yardstick, env)
    a: list[float] = []
    b: list[float] = []
    for i in range(pairs):
        # alternate which goes first, so neither always runs right after the other
        if i % 2:
            b.append(_run(yardstick, env))
            a.append(_run(subject, env))
        else:
            a.append(_run(subject, env))
            b.append(_run(yardstick, env))
    return statistics.median(a), statistics.median(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    incident = yaml.safe_load((ROOT / "rollback_advisor/demo/incident.yaml")
                              .read_text(encoding="utf-8"))
    cli = _command()
    with tempfile.TemporaryDirectory(prefix="ra-cli-start-") as tmp:
        store = Path(tmp) / "demo.db"
        env = {**os.environ, "ROLLBACK_ADVISOR_DATA_DIR": tmp,
               "ROLLBACK_ADVISOR_DATABASE_URL": f"sqlite:///{store}"}
        env.pop("ROLLBACK_ADVISOR_CONFIG", None)
        subprocess.run([*cli, "demo"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=tmp)
        python = [sys.executable]
        help_s, click_s = paired([*cli, "--help"], [*python, "-c", "import click"],
                                 args.pairs, env)
        suspects_s, pass_s = paired(
            [*cli, "suspects", incident["target"], "--at", incident["started_at"]],
            [*python, "-c", "pass"], args.pairs, env)
    figures = {
        "pairs": args.pairs,
        "help_s": round(help_s, 4), "import_click_s": round(click_s, 4),
        "help_ratio": round(help_s / click_s, 2), "help_target": 2.0,
        "suspects_s": round(suspects_s, 4), "python_pass_s": round(pass_s, 4),
        "suspects_ratio": round(suspects_s / pass_s, 2), "suspects_target": 15.0,
    }
    if args.format == "json":
        print(json.dumps(figures))
        return
    print(f"medians of {args.pairs} interleaved pairs ({' '.join(cli)})")
    print(f"rollback-advisor --help   {help_s:.3f} s  vs python -c 'import click' "
          f"{click_s:.3f} s: {help_s / click_s:.2f}x (target <= 2x)")
    print(f"rollback-advisor suspects {suspects_s:.3f} s  vs python -c pass "
          f"{pass_s:.3f} s: {suspects_s / pass_s:.2f}x (target <= 15x)")


if __name__ == "__main__":
    main()
