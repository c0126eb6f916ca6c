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
# Sections of bench/catalogue.py, run by it (each also runs alone by hand): not twice.
SECTIONS = {"catalogue_signups.py", "catalogue_availability.py"}
# Result files a benchmark writes besides bench/results/<its name>.json.
MORE_RESULTS = {"analytics_ingest": ("analytics_esf",)}


def scripts(only: list[str]) -> list[Path]:
    """The runnable benchmarks (helper modules such as common.py are not)."""
    found = sorted(
        p
        for p in HERE.glob("*.py")
        if p.name not in NOT_BENCHMARKS | SECTIONS and '__name__ == "__main__"' in p.read_text()
    )
    return [p for p in found if not only or p.stem in only]


def outputs(name: str) -> list[Path]:
    return [RESULTS / f"{stem}.json" for stem in (name, *MORE_RESULTS.get(name, ()))]


def is_ratio(key: str) -> bool:
    if key.startswith("target"):
        return False
    return key == "ratio" or key.startswith("ratio_") or key.endswith("_ratio")


def judge(ratio: float, targets: dict[str, Any]) -> tuple[float | None, bool | None]:
    """The target next to a ratio and whether it is met. `target_ratio_max` is a ceiling,
    `target_ratio_min` a floor; a plain `target`/`target_ratio` below 1 is a floor ("at
    least"), above 1 a ceiling ("within")."""
    if isinstance(targets.get("target_ratio_max"), int | float):
        return targets["target_ratio_max"], ratio <= targets["target_ratio_max"]
    if isinstance(targets.get("target_ratio_min"), int | float):
        return targets["target_ratio_min"], ratio >= targets["target_ratio_min"]
    for key in ("target", "target_ratio"):
        target = targets.get(key)
        if isinstance(target, int | float):
            return target, ratio >= target if target <= 1 else ratio <= target
    return None, None


def ratios(figures: Any, path: str = "") -> list[dict[str, Any]]:
    """Every ratio anywhere in a result (a number under `ratio`, `ratio_*` or `*_ratio`),
    with where it was found and the target beside it. The benchmarks name their figures
    differently; a target next to several ratios belongs to `ratio` if there is one, else
    to the first."""
    found: list[dict[str, Any]] = []
    if isinstance(figures, dict):
        keys = [
            k for k, v in figures.items()
            if is_ratio(k) and isinstance(v, int | float) and not isinstance(v, bool)
        ]  # fmt: skip
        owner = "ratio" if "ratio" in keys else (keys[0] if keys else None)
        for key in keys:
            target, met = judge(figures[key], figures) if key == owner else (None, None)
            where = (path or key) if key == "ratio" else (f"{path}.{key}" if path else key)
            found.append({"figure": where, "ratio": figures[key], "target": target, "met": met})
        for key, value in figures.items():
            found += ratios(value, f"{path}.{key}" if path else key)
    return found


def markdown(report: dict[str, Any]) -> str:
    """The ratios as a Markdown table (docs/performance.md shows the latest)."""
    rows = [
        f"Run at {report['at']}.",
        "",
        "| benchmark | figure | ratio to same-run baseline | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, entry in report["benchmarks"].items():
        for r in entry.get("ratios", []):
            mark = {True: "yes", False: "**no**", None: ""}[r["met"]]
            target = "" if r["target"] is None else r["target"]
            rows.append(f"| {name} | {r['figure']} | {r['ratio']} | {target} | {mark} |")
        if entry["exit_code"]:
            rows.append(f"| {name} | FAILED (exit {entry['exit_code']}) | | | |")
    return "\n".join(rows) + "\n"


def main(only: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    failed = 0
    for script in scripts(only):
        print(f"== {script.stem}", flush=True)
        for output in outputs(script.stem):
            output.unlink(missing_ok=True)  # never report an earlier run's figures
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], timeout=1800, check=False)
        entry: dict[str, Any] = {
            "seconds": round(time.monotonic() - started, 1),
            "exit_code": result.returncode,
        }
        written = [p for p in outputs(script.stem) if p.exists()]
        if result.returncode == 0 and written:
            figures = json.loads(written[0].read_text())
            for extra in written[1:]:
                figures[extra.stem] = json.loads(extra.read_text())
            entry["figures"] = figures
            entry["ratios"] = ratios(figures)
        else:
            failed += 1
        report["benchmarks"][script.stem] = entry
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "report.md").write_text(markdown(report))
    print("\n" + markdown(report))
    print(f"wrote {RESULTS / 'report.json'} and report.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
