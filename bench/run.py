"""Run every benchmark in bench/ (each in its own process, one after the other so they do
not disturb each other) and write bench/results/report.json: every figure of every
benchmark, with each ratio against its same-run baseline and its target.

    uv run python bench/run.py [name ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results"
NOT_BENCHMARKS = {"common.py", "run.py"}


def scripts(only: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in NOT_BENCHMARKS)
    return [p for p in found if not only or p.stem in only]


def ratios(figures: Any, path: str = "") -> list[dict[str, Any]]:
    """Every {ratio, target?} pair anywhere in a result, with where it was found."""
    found = []
    if isinstance(figures, dict):
        if "ratio" in figures and isinstance(figures["ratio"], int | float):
            target = figures.get("target")
            met = None
            if isinstance(target, int | float):
                # a target below 1 is a floor ("at least"), above 1 a ceiling ("within")
                met = figures["ratio"] >= target if target <= 1 else figures["ratio"] <= target
            found.append({"figure": path, "ratio": figures["ratio"], "target": target, "met": met})
        for key, value in figures.items():
            found += ratios(value, f"{path}.{key}" if path else key)
    return found


def main(only: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    failed = 0
    for script in scripts(only):
        print(f"== {script.stem}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], timeout=1800, check=False)
        entry: dict[str, Any] = {
            "seconds": round(time.monotonic() - started, 1),
            "exit_code": result.returncode,
        }
        output = RESULTS / f"{script.stem}.json"
        if result.returncode == 0 and output.exists():
            figures = json.loads(output.read_text())
            entry["figures"] = figures
            entry["ratios"] = ratios(figures)
        else:
            failed += 1
        report["benchmarks"][script.stem] = entry
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\nratio against same-run baseline (target):")
    for name, entry in report["benchmarks"].items():
        for r in entry.get("ratios", []):
            mark = {True: "met", False: "NOT met", None: ""}[r["met"]]
            print(f"  {name}:{r['figure']}: {r['ratio']} ({r['target']}) {mark}")
        if entry["exit_code"]:
            print(f"  {name}: FAILED (exit {entry['exit_code']})")
    print(f"\nwrote {RESULTS / 'report.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
