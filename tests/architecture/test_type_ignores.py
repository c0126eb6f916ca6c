"""No `type: ignore` without a reason (issue 25): every one in the repository's Python names
its error codes and says why on the same line, so the next reader can tell a deliberate
escape from a silenced mistake (mypy's warn_unused_ignores drops the stale ones in src)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2]
WHERE = ("services", "contracts", "tests", "bench")
# The error codes in brackets, then a comment of its own with the reason.
EXPLAINED = re.compile(r"#\s*type:\s*ignore\[[\w-]+(,\s*[\w-]+)*\]\s+#\s*\S")
IGNORE = re.compile(r"#\s*type:\s*ignore")


def unexplained(text: str) -> list[int]:
    return [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if IGNORE.search(line) and not EXPLAINED.search(line)
    ]


def sources() -> Iterator[Path]:
    for top in WHERE:
        for folder, dirs, files in os.walk(ROOT / top):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "__pycache__")]
            yield from (Path(folder) / f for f in sorted(files) if f.endswith(".py"))


def test_every_type_ignore_says_why() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources()
        for number in unexplained(path.read_text(encoding="utf-8"))
    ]
    assert not found, "type: ignore without a reason on its line:\n" + "\n".join(found)


def test_the_check_tells_a_reason_from_none() -> None:
    ignore = "# type: " + "ignore"  # split: this file's own lines stay clean
    assert unexplained(f"x = f()  {ignore}[arg-type]  # a stand-in\n") == []
    assert unexplained(f"x = f()  {ignore}[arg-type]\n") == [1]
    assert unexplained(f"x = f()  {ignore}\n") == [1]  # no codes: everything silenced
    assert unexplained(f"ok = 1\nx = f()  {ignore}[a, b]  #\n") == [2]  # an empty reason
