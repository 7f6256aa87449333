"""The benchmark report: ``report.json`` (written by ``python -m bench``) rendered as Markdown.

Re-render a report without running anything:

    python -m bench.report bench/results/report.json [--out report.md]

(writes ``report.md`` beside the JSON unless ``--out``, and prints it).

Convention for benchmark modules (``bench/<name>.py``)
-----------------------------------------------------
Each module has

* ``add_arguments(parser)``: adds its own options to the one ``argparse`` parser of
  ``python -m bench``. Names must be unique across modules (prefix them with the module's name,
  e.g. ``--dispatch-count``); abbreviations are off. ``--only``, ``--quick`` and ``--out`` are
  global: never add them.
* ``run(args) -> dict``: runs the benchmark (bounded in time, loopback only, stopping every
  process it started) with the whole namespace ``args``; ``args.quick`` (bool) asks for its
  smaller settings. It returns a JSON-ready dict::

      {"benchmark": "Dispatch throughput: jsbus vs Celery",      # title
       "settings": {"rounds": 3, ...},                           # parameters actually used
       "figures": {"ratio": 1.2, "rounds": [{...}, ...], ...},   # what was measured
       "targets": [{"target": "jsbus / Celery", "value": 1.2,    # number or None
                    "limit": ">= 1.0", "met": True}]}            # True, False or None
* ``if __name__ == "__main__":`` to run it alone.

Figures render as tables: scalar figures in one ``figure | value`` table, each list of dicts
as its own table (one row per item), each dict as a ``key | value`` table (a dict of flat dicts: one row per key, one
column per inner key; a flat dict in a cell: ``k: v, ...``).

``report.json``: ``{"command", "started", "ended", "seconds", "quick", "arguments",
"machine", "versions", "warnings", "benchmarks": [{"module", "status" ("ok", "failed",
"missing"), "seconds", "error", "traceback", "benchmark", "settings", "figures",
"targets"}, ...]}``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MET = {True: "✔", False: "✘", None: "–"}


def cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k}: {cell(v)}" for k, v in value.items()) or "–"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, separators=(", ", ": "))
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def mapping_table(data: dict, key: str = "setting") -> list[str]:
    return table([key, "value"], [[k, v] for k, v in data.items()])


def figures_section(figures: dict) -> list[str]:
    lines: list[str] = []
    scalars = {k: v for k, v in figures.items()
               if not isinstance(v, dict)
               and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
    if scalars:
        lines += mapping_table(scalars, "figure")
    for name, value in figures.items():
        if isinstance(value, dict) and not value:
            lines += [f"#### {name}", "", "(none)", ""]
        elif isinstance(value, dict) and all(
                isinstance(v, dict) and all(not isinstance(x, (dict, list)) for x in v.values())
                for v in value.values()):
            columns: list[str] = []
            for inner in value.values():
                columns += [k for k in inner if k not in columns]
            lines += [f"#### {name}", ""]
            lines += table([""] + columns, [[k] + [inner.get(c) for c in columns]
                                            for k, inner in value.items()])
        elif isinstance(value, dict):
            lines += [f"#### {name}", ""] + mapping_table(value, "key")
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            columns: list[str] = []
            for item in value:
                columns += [k for k in item if k not in columns]
            lines += [f"#### {name}", ""]
            lines += table(columns, [[item.get(c) for c in columns] for item in value])
    return lines


def title(entry: dict) -> str:
    return entry.get("benchmark") or entry.get("module", "?")


def render(report: dict) -> str:
    machine = report.get("machine") or {}
    lines = ["# jsbus benchmark report", "",
             f"- Command: `{report.get('command', '')}`",
             f"- Started: {report.get('started')}; ended: {report.get('ended')} "
             f"({cell(report.get('seconds'))} s)" + (" — quick settings" if report.get("quick")
                                                     else ""),
             f"- Machine: {machine.get('cpus')} CPUs ({machine.get('cpu')}), "
             f"{machine.get('memory_gb')} GB, {machine.get('platform')}",
             "- Versions: " + ", ".join(f"{k} {v if v is not None else '(not installed)'}"
                                        for k, v in (report.get("versions") or {}).items()),
             ""]
    for warning in report.get("warnings") or []:
        lines.append(f"> **Warning:** {cell(warning)}")
    if report.get("warnings"):
        lines.append("")
    benchmarks = report.get("benchmarks") or []
    lines += ["## Summary", ""]
    rows = []
    for entry in benchmarks:
        if entry.get("status") != "ok":
            rows.append([title(entry), f"{entry.get('status')}: {entry.get('error')}",
                         None, None, "✘"])
            continue
        if not entry.get("targets"):
            rows.append([title(entry), "(no target)", None, None, "–"])
        for target in entry.get("targets") or []:
            rows.append([title(entry), target.get("target"), target.get("value"),
                         target.get("limit"), MET.get(target.get("met"), "–")])
    lines += table(["benchmark", "target", "value", "limit", "met"], rows)
    for number, entry in enumerate(benchmarks, 1):
        lines += [f"## {number}. {title(entry)}", "",
                  f"Module `bench.{entry.get('module')}`: **{entry.get('status')}** "
                  f"in {cell(entry.get('seconds'))} s.", ""]
        if entry.get("error"):
            lines += ["```", str(entry.get("traceback") or entry["error"]).rstrip(), "```", ""]
        if entry.get("settings"):
            lines += ["### Settings", ""] + mapping_table(entry["settings"])
        if entry.get("figures"):
            lines += ["### Figures", ""] + figures_section(entry["figures"])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report",
                                     description="Render report.json as Markdown.")
    parser.add_argument("json", type=Path, help="report.json written by python -m bench")
    parser.add_argument("--out", type=Path, help="Markdown file (default: report.md beside it)")
    args = parser.parse_args(argv)
    text = render(json.loads(args.json.read_text()))
    out = args.out or args.json.with_name("report.md")
    out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
