"""Shared helpers: machine description, raw results as JSON and replacing one marked block of
docs/performance.md."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import sys
from pathlib import Path

HEADER = """# Performance

Figures measured by the benchmarks in `bench/` (`python -m bench --help`). Each section
is generated: a benchmark replaces only the block between its own
`<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` markers, so sections written
by other benchmarks (desk, portal, ...) are kept. Edit outside the markers freely.
"""


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 0
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "?"
    return {
        "nproc": str(nproc),
        "cpu": cpu or "?",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "load": load,
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    return f"python -m bench {args}".strip()


def replace_block(path: Path, name: str, body: str) -> None:
    """Write ``body`` between the markers of block ``name`` in ``path`` (appended if absent)."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def save_json(path: str, mach: dict, cmd: str, results: list) -> None:
    """The raw results of a run (``--json``; ``--from-json`` re-renders a section from it)."""
    Path(path).write_text(json.dumps({"machine": mach, "command": cmd, "results": results}, indent=1,
                                     default=str), encoding="utf-8")


def write_section(out: str, name: str, body: str) -> None:
    """Replace block ``name`` of ``out`` (relative to the project root) unless ``out`` is empty."""
    if not out:
        return
    path = Path(out)
    if not path.is_absolute():
        path = Path(__file__).resolve().parent.parent / path
    replace_block(path, name, body)
    print(f"\nwrote {path}")


def common_arguments(p, pg_url: str) -> None:
    """The options every suite has: databases, size, output, PostgreSQL URL, raw JSON."""
    import os as _os

    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--graduates", type=int, default=20000)
    p.add_argument("--out", default="docs/performance.md", help="markdown file to update ('' = don't write)")
    p.add_argument("--pg-url", default=_os.environ.get("BENCH_PG_URL", pg_url))
    p.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    p.add_argument("--json", help="also write raw results to this file")
    p.add_argument("--from-json", help="don't measure: re-render the table/section from a --json file")
