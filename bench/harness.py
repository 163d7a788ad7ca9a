"""The harness every benchmark script shares.

A benchmark is an *orchestrating* process that runs each measured step in a *fresh*
Python process (``run_step``), so no run inherits another's imports, caches or heap.
A step is the same script called with a step name (``_measure``, ``_load``, ...) as its
first argument; it prints its figures as one JSON line last (``emit``). The harness
also gives the common options (``parser``: cluster size, ``--runs``, ``--seed``,
``--profile``, ``--json``), the machine line (``machine``), the median with min and max
of several runs (``summary``), peak and current RSS, and the profiling switch
(``profiled``: pyinstrument around a block, its text, HTML and session saved).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZE_FIELDS = ("pods", "namespaces", "policies", "seed")
PROFILES = ROOT / "var" / "bench"


def parser(doc: str, *, runs: int = 3, size_defaults: tuple | None = None, profile=True):
    """The common options; ``size_defaults`` (pods, namespaces, policies) or None (no default:
    the script picks its preset sizes unless all three are given); ``profile`` False when
    the script has its own ``--profile``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    size = p.add_argument_group("cluster size")
    defaults = size_defaults or (None, None, None)
    for name, default in zip(SIZE_FIELDS[:3], defaults, strict=True):
        size.add_argument(f"--{name}", type=int, default=default)
    size.add_argument("--seed", type=int, default=0)
    if runs:  # 0: the script counts its repetitions itself
        p.add_argument("--runs", type=int, default=runs, help=f"timed runs (default {runs})")
    if profile:
        p.add_argument(
            "--profile", action="store_true", help="one more run under pyinstrument (not timed)"
        )
    p.add_argument("--json", metavar="FILE", help="also write every run's figures here")
    return p


def check(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """The checks every benchmark makes of its options."""
    if getattr(args, "runs", 1) < 1:
        p.error("--runs must be at least 1")
    if getattr(args, "profile", False) and importlib.util.find_spec("pyinstrument") is None:
        p.error("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    return args


def custom_size(args) -> tuple[int, int, int] | None:
    """(pods, namespaces, policies) when all three were given, else None."""
    given = (args.pods, args.namespaces, args.policies)
    return given if all(given) else None


def size_args(args, *extra: str) -> list[str]:
    """The size options of ``args`` (and ``extra`` attributes) as a step's arguments."""
    return [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in (*SIZE_FIELDS, *extra)]


def step_parser(*extra_int: str) -> argparse.ArgumentParser:
    """The options a step is called with: the size (required), then the script's own."""
    p = argparse.ArgumentParser()
    for name in (*SIZE_FIELDS, *extra_int):
        p.add_argument(f"--{name.replace('_', '-')}", type=int)
    p.add_argument("--profile")
    return p


def dispatch(argv: list[str], steps: dict[str, Callable], step_args: argparse.ArgumentParser) -> bool:
    """Run the step named by ``argv[0]`` if it names one; True when it did."""
    if argv and argv[0] in steps:
        steps[argv[0]](step_args.parse_args(argv[1:]))
        return True
    return False


def run_step(script: str, step: str, arguments: list[str], env: dict | None = None) -> dict:
    """Run ``script step arguments`` in a fresh Python process; its last JSON line."""
    done = subprocess.run(
        [sys.executable, script, step, *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{Path(script).name} {step} failed with exit status {done.returncode}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def profiled_run(script: str, name: str, args, arguments: list[str], env: dict | None = None) -> dict:
    """One more ``_measure`` step under pyinstrument (not in the figures), its profile in
    ``var/bench/profile-NAME-PODS``; prints where it is and returns the step's figures."""
    stem = PROFILES / f"profile-{name}-{args.pods}"
    PROFILES.mkdir(parents=True, exist_ok=True)
    run = run_step(script, "_measure", [*arguments, f"--profile={stem}"], env)
    print(f"  profiled run under pyinstrument: {run['profile']}", flush=True)
    return run


def emit(result: dict) -> None:
    """A step's figures: one JSON line, the last it prints."""
    print(json.dumps(result), flush=True)


def summary(values: list[float]) -> tuple[float, float, float]:
    """Median, min and max."""
    return statistics.median(values), min(values), max(values)


def peak_mb() -> float:
    """This process's peak RSS (``ru_maxrss``, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    """CPU model and count, RAM, OS and Python: the first line of every benchmark."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs{mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


@contextmanager
def profiled(stem: str | Path | None, interval: float = 0.001) -> Iterator[dict]:
    """Profile the block with pyinstrument when ``stem`` is given, writing ``stem``.txt,
    .html and .pyisession; the dict yielded gets ``profile``, the text file's path."""
    out: dict = {}
    if not stem:
        yield out
        return
    from pyinstrument import Profiler  # a dev tool, not a dependency

    profiler = Profiler(interval=interval)
    profiler.start()
    try:
        yield out
    finally:
        profiler.stop()
        stem = Path(stem)
        stem.with_suffix(".txt").write_text(profiler.output_text(unicode=True, color=False))
        stem.with_suffix(".html").write_text(profiler.output_html())
        profiler.last_session.save(str(stem.with_suffix(".pyisession")))
        out["profile"] = str(stem.with_suffix(".txt"))
