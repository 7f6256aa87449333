"""Run the jsbus benchmarks and write the report: ``python -m bench [--quick] [--only NAME ...]
[--out DIR] [module options]``.

Runs ``bench.dispatch``, ``bench.scheduling``, ``bench.api``, ``bench.scale`` and
``bench.history`` in sequence, each imported only when its turn comes (a module that is missing,
clashes on an option or raises is recorded as failed with its error, and the run goes on), then
writes ``DIR/report.json`` and ``DIR/report.md`` (default DIR: ``bench/results``; the JSON is
rewritten after every benchmark, so an interrupted run keeps what it measured) and prints the
Markdown. The module convention is in ``bench/report.py``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODULES = ["dispatch", "scheduling", "api", "scale", "history"]
VERSIONS = ("celery", "kombu", "redis", "APScheduler", "httpx", "psutil")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def base_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", add_help=False, allow_abbrev=False,
        description="Run the jsbus benchmarks; write DIR/report.json and DIR/report.md.")
    parser.add_argument("--only", nargs="+", choices=MODULES, metavar="NAME",
                        help=f"run only these benchmarks ({', '.join(MODULES)})")
    parser.add_argument("--quick", action="store_true",
                        help="each benchmark's smaller settings (a smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", metavar="DIR",
                        help="where report.json and report.md go (default bench/results)")
    return parser


def load(names: list[str], parser: argparse.ArgumentParser, entries: dict,
         warnings: list[str]) -> dict:
    """Import each module and let it add its options; record failures in ``entries``."""
    modules = {}
    owners = {action.dest: "python -m bench" for action in parser._actions}
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as error:
            missing = error.name == f"bench.{name}"
            entries[name].update(status="missing" if missing else "failed",
                                 error=f"{type(error).__name__}: {error}",
                                 traceback=None if missing else traceback.format_exc())
            continue
        except Exception as error:  # noqa: BLE001 (recorded; the run goes on)
            entries[name].update(status="failed", error=f"import: {type(error).__name__}: "
                                 f"{error}", traceback=traceback.format_exc())
            continue
        for needed in ("add_arguments", "run"):
            if not callable(getattr(module, needed, None)):
                entries[name].update(status="failed", error=f"bench.{name} has no {needed}()")
                break
        else:
            before = len(parser._actions)
            try:
                module.add_arguments(parser)
            except (argparse.ArgumentError, ValueError) as error:
                entries[name].update(status="failed", error=f"option clash: {error}",
                                     traceback=traceback.format_exc())
                warnings.append(f"bench.{name}: option clash: {error}")
                continue
            except Exception as error:  # noqa: BLE001
                entries[name].update(status="failed", error=f"add_arguments: "
                                     f"{type(error).__name__}: {error}",
                                     traceback=traceback.format_exc())
                continue
            for action in parser._actions[before:]:
                if action.dest in owners and owners[action.dest] != f"bench.{name}":
                    warnings.append(f"bench.{name}: option {'/'.join(action.option_strings)} "
                                    f"shares its destination {action.dest!r} with "
                                    f"{owners[action.dest]}")
                owners.setdefault(action.dest, f"bench.{name}")
            modules[name] = module
    return modules


def write(report: dict, out: Path) -> str:
    from bench.report import render
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = render(report)
    (out / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = base_parser()
    known, _ = parser.parse_known_args(argv)
    wants_help = any(a in ("-h", "--help") for a in argv)
    names = MODULES if wants_help or not known.only else \
        [n for n in MODULES if n in known.only]
    warnings: list[str] = []
    entries = {name: {"module": name, "status": "pending", "seconds": None, "error": None,
                      "traceback": None} for name in names}
    modules = load(names, parser, entries, warnings)
    parser.add_argument("-h", "--help", action="help", help="show this help and exit")
    args = parser.parse_args(argv)

    from bench.common import machine, versions
    started = time.time()
    report = {"command": shlex.join([Path(sys.executable).as_posix(), "-m", "bench", *argv]),
              "started": now(), "ended": None, "seconds": None, "quick": args.quick,
              "arguments": {k: v for k, v in vars(args).items()},
              "machine": machine(), "versions": versions(*VERSIONS), "warnings": warnings,
              "benchmarks": list(entries.values())}
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        for name in names:
            entry = entries[name]
            if name not in modules:
                print(f"== {name}: {entry['status']}: {entry['error']}", file=sys.stderr)
                continue
            print(f"== {name}: running", file=sys.stderr, flush=True)
            begun = time.time()
            try:
                result = modules[name].run(args)
                if not isinstance(result, dict):
                    raise TypeError(f"run() returned {type(result).__name__}, not a dict")
                json.dumps(result)  # JSON-ready, as promised
                entry.update({"benchmark": name, "settings": {}, "figures": {},
                              "targets": []}, status="ok")
                entry.update({k: v for k, v in result.items()
                              if k not in ("module", "status", "seconds", "error",
                                           "traceback")})
            except KeyboardInterrupt:
                entry.update(status="failed", error="interrupted")
                raise
            except Exception as error:  # noqa: BLE001 (recorded; the run goes on)
                entry.update(status="failed", error=f"{type(error).__name__}: {error}",
                             traceback=traceback.format_exc())
                print(f"== {name}: failed: {error}", file=sys.stderr)
            finally:
                entry["seconds"] = round(time.time() - begun, 1)
                report.update(ended=now(), seconds=round(time.time() - started, 1))
                write(report, args.out)
            print(f"== {name}: {entry['status']} in {entry['seconds']} s", file=sys.stderr)
    finally:
        report.update(ended=now(), seconds=round(time.time() - started, 1))
        text = write(report, args.out)
    sys.stdout.write(text)
    print(f"\nreport: {args.out / 'report.md'} and {args.out / 'report.json'}", file=sys.stderr)
    return 0 if all(e["status"] == "ok" for e in entries.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
