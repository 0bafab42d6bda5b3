"""Reproduce the seed course (REFERENCE.md E1-E22) and write docs/seeds.md and docs/figures/.

Each experiment runs one or a few ``mlplab-run -m experiment=NAME`` sweeps (the default
stacked launcher), reads their tables back with pandas, decides each part of the
seed's claim by one criterion (scripts/seedcourse/verdicts.py) and writes the page.
Nothing on the page is typed by hand except the seeds' own words and numbers.

    make reproduce                              # = python scripts/reproduce.py --fresh
    python scripts/reproduce.py --only E5 E12   # some of them (completed jobs are reused)
    python scripts/reproduce.py --quick         # tiny budgets: a smoke test of the pipeline
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from seedcourse.course import EXPERIMENTS
from seedcourse.page import Outcome, render
from seedcourse.sweeps import ROOT, Sweep, SweepFailed, run


def provenance() -> str:
    """mlplab's version and the git commit the page was made from."""
    import mlplab

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "src", "configs", "scripts"):
        commit += " with uncommitted changes"
    return f"mlplab {mlplab.__version__}, commit {commit}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="experiment ids (E5) or sweep names")
    parser.add_argument(
        "--quick", action="store_true", help="tiny budgets: check the pipeline, not the findings"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="delete earlier sweeps and figures first"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT / "outputs" / "reproduce", help="where the sweeps go"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "seeds.md", help="the page to write"
    )
    args = parser.parse_args()
    chosen = [
        e
        for e in EXPERIMENTS
        if not args.only or e.id in args.only or set(args.only) & set(e.sweeps)
    ]
    if not chosen:
        sys.exit(
            f"--only {args.only}: no such experiment. Choose from: {', '.join(e.id for e in EXPERIMENTS)}."
        )
    start = time.perf_counter()
    figures_dir = args.out.parent / "figures"
    if args.fresh:
        shutil.rmtree(args.root, ignore_errors=True)
        for old in figures_dir.glob("E*.png"):
            old.unlink()
    figures_dir.mkdir(parents=True, exist_ok=True)
    sweeps: dict[str, Sweep] = {}
    outcomes, broken = [], False
    for exp in chosen:
        outcome = Outcome(exp, pending=exp.pending())
        if outcome.pending is None:
            try:
                for name in exp.sweeps:
                    if name not in sweeps:
                        seconds = run(name, args.root, list(exp.quick) if args.quick else [])
                        sweeps[name] = Sweep(args.root / name, seconds)
                outcome.sweeps = [sweeps[name] for name in exp.sweeps]
                outcome.finding = exp.analyse(sweeps)
                if outcome.finding.figure is not None:
                    outcome.figure = f"{exp.id}.png"
                    outcome.finding.figure(figures_dir / outcome.figure)
            except (SweepFailed, KeyError, ValueError, IndexError, ZeroDivisionError) as exc:
                if not args.quick:
                    traceback.print_exc()
                    broken = True
                outcome.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                outcome.finding = None
        print(f"{exp.id}: {outcome.verdict}", flush=True)
        outcomes.append(outcome)
    elapsed = time.perf_counter() - start
    swept = sum(s.seconds for s in sweeps.values())
    meta = (
        f"Made on {datetime.date.today().isoformat()} with {provenance()}, in "
        f"{elapsed / 60:.1f} minutes of wall time on a {os.cpu_count()}-core machine, "
        f"{swept / 60:.1f} of them in the {len(sweeps)} sweeps"
        + (
            " (`--fresh`: every sweep run from scratch)."
            if args.fresh
            else " (completed jobs reused)."
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(outcomes, meta, args.quick))
    print(f"wrote {args.out} in {elapsed:.0f} s")
    if broken:
        sys.exit(1)


if __name__ == "__main__":
    main()
