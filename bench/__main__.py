"""`python -m bench [--quick] [--json PATH]`: runs the server, worker and desktop benchmarks,
prints one table and optionally writes every row as JSON."""

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from bench.common import table, verdict

MODULES = (
    "bench.server_bench",
    "bench.events_bench",
    "bench.worker_bench",
    "bench.desktop_bench",
)


def _machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _run_module(name: str, quick: bool) -> tuple[list[dict[str, Any]], str | None]:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return [], f"{name}: skipped, the module does not exist"
        return [], f"{name}: skipped, it cannot be imported: {exc!r}"
    except Exception as exc:
        return [], f"{name}: skipped, it cannot be imported: {exc!r}"
    try:
        return list(module.run(quick=quick)), None
    except Exception as exc:
        traceback.print_exc()
        return [], f"{name}: skipped, it raised {exc!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: under 3 minutes")
    parser.add_argument("--json", metavar="PATH", help="write the rows and the machine as JSON")
    parser.add_argument(
        "--only",
        action="append",
        metavar="MODULE",
        help="run only this module (server_bench, events_bench, worker_bench, desktop_bench);"
        " repeatable",
    )
    args = parser.parse_args(argv)

    machine = _machine()
    print(f"machine: {machine['nproc']} cpu(s), {machine['cpu']}, Python {machine['python']}")
    began = time.monotonic()
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    modules = [m for m in MODULES if not args.only or m.split(".")[-1] in args.only]
    for name in modules:
        started = time.monotonic()
        print(f"running {name}{' (quick)' if args.quick else ''} ...", flush=True)
        rows, problem = _run_module(name, args.quick)
        for result in rows:
            result.setdefault("module", name.split(".")[-1])
        results += rows
        if problem:
            skipped.append(problem)
            print(problem, file=sys.stderr)
        print(f"  {name}: {len(rows)} figure(s) in {time.monotonic() - started:.0f} s", flush=True)
    elapsed = time.monotonic() - began

    print()
    print(table(results) if results else "no figures")
    for problem in skipped:
        print(problem)
    print(
        f"\n{len(results)} figure(s) in {elapsed:.0f} s ({'quick' if args.quick else 'full'} run)"
    )

    if args.json:
        for result in results:
            result["verdict"] = verdict(result)
        document = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "seconds": round(elapsed, 1),
            "machine": machine,
            "skipped": skipped,
            "results": results,
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, default=str)
            handle.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
