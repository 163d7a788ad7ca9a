"""CLI benchmark: ``netaudit audit`` and ``netaudit matrix`` on a kubectl export (issue 10).

The input is what a new user feeds the CLI: ``bench.synthetic.kubectl_list``, the shape of
``kubectl get ns,pods,networkpolicies -A -o yaml`` (namespaces, pods with IPs, policies;
no Nodes, no Services, no declared CIDRs), written once as YAML and as JSON into a cache
directory (not timed). Each run is the command as a user types it, a subprocess with its
output to a file: wall time, the child's own peak RSS (``ru_maxrss`` from ``os.wait4``,
which reports that child alone) and the output's size.

    # audit at 5k, 10k, 20k, 50k pods, YAML and JSON input, median of 3
    .venv/bin/python bench/bench_cli.py

    # before and after in one run: another checkout's binary next to this one
    .venv/bin/python bench/bench_cli.py --sizes 5k,20k \\
        --netaudit before=/tmp/netaudit-before/.venv/bin/netaudit --netaudit after=.venv/bin/netaudit

    # matrix at 1,000 pods against network-config-analyzer 2.1.0 in its own virtualenv
    .venv/bin/python bench/bench_cli.py --sizes none --nca-venv /tmp/nca-venv

Sizes: ``5k`` (5,000 pods / 200 namespaces / 1,000 policies), ``10k``, ``20k``, ``50k``
(50,000 / 2,000 / 10,000), or ``PODS/NAMESPACES/POLICIES``. A size and input whose first
run takes longer than ``--long`` seconds is run once, and the table says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

PRESETS = {
    "5k": (5_000, 200, 1_000),
    "10k": (10_000, 400, 2_000),
    "20k": (20_000, 800, 4_000),
    "50k": (50_000, 2_000, 10_000),
}
MATRIX_SIZE = (1_000, 20, 200)
CACHE = harness.ROOT / "var" / "bench" / "cli"
# Input formats: YAML as kubectl prints it, JSON as kubectl prints it (4-space indent),
# and JSON without whitespace (about half the size).
INPUTS = {"yaml": ".yaml", "json": ".json", "json-compact": ".compact.json"}
# The targets at 50k pods.
TARGET_WALL = {"yaml": 20.0, "json": 10.0, "json-compact": 10.0}
TARGET_RSS_MB = 1_500
TARGET_OUTPUT_MB = 50
TARGET_MATRIX_SPEEDUP = 100


def parse_size(text: str) -> tuple[int, int, int]:
    if text in PRESETS:
        return PRESETS[text]
    try:
        pods, namespaces, policies = (int(part) for part in text.split("/"))
    except ValueError:
        raise SystemExit(
            f"bad size {text!r}: one of {', '.join(PRESETS)} or PODS/NAMESPACES/POLICIES"
        ) from None
    return pods, namespaces, policies


def label(size: tuple[int, int, int]) -> str:
    return "/".join(f"{n:,}" for n in size)


def input_paths(size: tuple[int, int, int], seed: int) -> dict[str, Path]:
    stem = f"kubectl-{size[0]}-{size[1]}-{size[2]}-seed{seed}"
    return {kind: CACHE / f"{stem}{suffix}" for kind, suffix in INPUTS.items()}


def write_inputs(size: tuple[int, int, int], seed: int, kinds: list[str]) -> dict[str, Path]:
    """The kubectl export of ``size`` in the ``kinds`` wanted, written once into the cache
    by a ``_write`` process: generating 50k pods here would leave this process at over
    1 GB, and a child's ``ru_maxrss`` starts at its parent's high-water mark."""
    paths = input_paths(size, seed)
    missing = [kind for kind in kinds if not paths[kind].exists()]
    if missing:
        print(f"writing the {label(size)} kubectl export: {', '.join(missing)}", flush=True)
        arguments = [f"--pods={size[0]}", f"--namespaces={size[1]}", f"--policies={size[2]}"]
        harness.run_step(
            __file__, "_write", [*arguments, f"--seed={seed}", f"--kinds={','.join(missing)}"]
        )
    return paths


def write_step(args) -> None:
    """Generate the export and write it in each of ``args.kinds``; a file is renamed into
    place when complete, so an interrupted write is never reused."""
    import yaml

    from bench.synthetic import kubectl_list

    CACHE.mkdir(parents=True, exist_ok=True)
    size = (args.pods, args.namespaces, args.policies)
    paths = input_paths(size, args.seed)
    export = kubectl_list(*size, seed=args.seed)
    for kind in args.kinds.split(","):
        partial = paths[kind].with_name(paths[kind].name + ".partial")
        with partial.open("w") as out:
            if kind == "yaml":
                yaml.dump(
                    export, out, Dumper=yaml.CSafeDumper, default_flow_style=False, sort_keys=False
                )
            elif kind == "json":
                json.dump(export, out, indent=4)  # as kubectl get -o json prints it
            else:
                json.dump(export, out, separators=(",", ":"))
        partial.rename(paths[kind])
    harness.emit({kind: str(paths[kind]) for kind in args.kinds.split(",")})


def timed(command: list[str], out: Path, timeout: float | None) -> dict:
    """Run ``command`` with stdout to ``out``: wall seconds, the child's peak RSS in MiB,
    the output's size, the exit status; ``stopped`` when it was killed at ``timeout``."""
    with out.open("wb") as stdout, out.with_suffix(".stderr").open("wb") as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=harness.ROOT)
        killer = threading.Timer(timeout, child.kill) if timeout else None
        if killer:
            killer.start()
        # wait4 reaps this child and gives its own rusage (ru_maxrss in KiB), which
        # Popen.wait would discard; the timer stands in for wait's timeout.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if killer:
            killer.cancel()
    return {
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024,
        "output_mb": out.stat().st_size / 1e6,
        "status": child.returncode,
        "stopped": bool(timeout) and wall >= timeout,
    }


def binaries(specs: list[str] | None) -> list[tuple[str, Path]]:
    """``--netaudit [LABEL=]PATH`` options as (label, path); this checkout's by default."""
    if not specs:
        return [("this", harness.ROOT / ".venv" / "bin" / "netaudit")]
    found = []
    for spec in specs:
        name, _, path = spec.rpartition("=")
        path = Path(path).resolve()
        if not os.access(path, os.X_OK):
            raise SystemExit(f"--netaudit {spec}: {path} is not an executable file")
        found.append((name or str(path.parent.parent.parent), path))
    return found


def measure(rows: list[dict], args) -> list[dict]:
    """Time each row's ``command`` ``args.runs`` times, round by round so the commands
    share the machine's load; a command whose run was stopped or took over ``args.long``
    seconds is not run again. Each run is printed; each row gets its runs and medians."""
    for row in rows:
        row["runs"] = []
    for _ in range(args.runs):
        for row in rows:
            runs = row["runs"]
            if runs and (runs[-1]["stopped"] or runs[-1]["status"] or runs[-1]["wall"] > args.long):
                continue
            run = timed(row["command"], row["out"], args.timeout)
            runs.append(run)
            print(
                f"  {row['name']}: {run['wall']:.2f} s, {run['rss_mb']:.0f} MiB, "
                f"output {run['output_mb']:.1f} MB, exit {run['status']}"
                + (f" (stopped after {args.timeout:.0f} s)" if run["stopped"] else ""),
                flush=True,
            )
            if run["status"] and not run["stopped"]:
                # Recorded, not fatal: a refusal (say, a file over the reader's size
                # limit) is a result too; the other commands still run.
                lines = row["out"].with_suffix(".stderr").read_text(errors="replace").splitlines()
                row["error"] = lines[-1] if lines else f"exit {run['status']}"
                print(f"    failed: {row['error']}", flush=True)
    for row in rows:
        runs = row["runs"]
        row["wall"], row["wall_min"], row["wall_max"] = harness.summary([r["wall"] for r in runs])
        row["rss_mb"] = max(r["rss_mb"] for r in runs)
        row["output_mb"] = runs[-1]["output_mb"]
        row["stopped"] = any(r["stopped"] for r in runs)
        row.setdefault("error", None)
        row["command"] = [str(c) for c in row["command"]]
        row["out"] = str(row["out"])
    return rows


def audit_rows(args, sizes, netaudits) -> list[dict]:
    """Every size, input kind and binary; the binaries alternate within a size, so they
    share the machine's load."""
    rows: list[dict] = []
    for size in sizes:
        paths = write_inputs(size, args.seed, args.inputs)
        for kind in args.inputs:
            print(f"audit {label(size)}, {kind} input ({paths[kind].stat().st_size / 1e6:.0f} MB)")
            rows += measure(
                [
                    {
                        "name": name,
                        "command": [binary, "audit", paths[kind], "--format", "json"],
                        "out": CACHE / f"audit-{name}-{size[0]}-{kind}.json",
                        "pods": size[0],
                        "size": label(size),
                        "input": kind,
                    }
                    for name, binary in netaudits
                ],
                args,
            )
    return rows


def audit_table(rows: list[dict]) -> None:
    print()
    print(
        "| netaudit | pods / namespaces / policies | input | runs | wall: median (min–max) "
        "| per 1,000 pods | peak RSS | JSON output |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        wall = f"{r['wall']:.2f} s ({r['wall_min']:.2f}–{r['wall_max']:.2f})"
        per_1k = f"{r['wall'] / r['pods'] * 1000:.3f} s"
        if r["stopped"]:
            wall, per_1k = f"stopped after {r['wall']:.0f} s", "—"
        elif r["error"]:
            wall, per_1k = f"failed: {r['error']}", "—"
        print(
            f"| {r['name']} | {r['size']} | {r['input']} | {len(r['runs'])} | {wall} "
            f"| {per_1k} | {r['rss_mb']:.0f} MiB "
            f"| {r['output_mb']:.1f} MB |"
        )
    print()
    series: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        series.setdefault((r["name"], r["input"]), []).append(r)
    for (name, kind), points in series.items():
        points = [p for p in points if not (p["stopped"] or p["error"])]
        if len(points) < 2:
            continue
        per_1k = [p["wall"] / p["pods"] * 1000 for p in points]
        print(
            f"linearity, {name} on {kind}: s per 1,000 pods "
            + " → ".join(f"{v:.3f}" for v in per_1k)
            + f" ({per_1k[-1] / per_1k[0]:.2f}× from {points[0]['pods']:,} to "
            f"{points[-1]['pods']:,} pods)"
        )


def audit_misses(rows: list[dict], name: str) -> list[str]:
    misses = []
    for r in rows:
        if r["name"] != name or r["pods"] < 50_000:
            continue
        where = f"{r['name']} {r['size']} {r['input']}"
        if r["error"]:
            misses.append(f"{where}: failed: {r['error']}")
        elif r["stopped"] or r["wall"] > TARGET_WALL[r["input"]]:
            misses.append(f"{where}: wall {r['wall']:.1f} s > {TARGET_WALL[r['input']]:.0f} s")
        if r["rss_mb"] * 1.048576 > TARGET_RSS_MB:  # MiB to MB
            misses.append(f"{where}: peak RSS {r['rss_mb']:.0f} MiB > {TARGET_RSS_MB} MB")
        if r["output_mb"] > TARGET_OUTPUT_MB:
            misses.append(f"{where}: output {r['output_mb']:.0f} MB > {TARGET_OUTPUT_MB} MB")
    return misses


def has_option(binary: Path, command: str, option: str) -> bool:
    shown = subprocess.run([binary, command, "--help"], capture_output=True, text=True)
    return option in shown.stdout


def matrix_rows(args, netaudits) -> list[dict]:
    """``netaudit matrix`` against network-config-analyzer's connectivity map on the same
    file, interleaved run by run: nca's default map (its firewall rules between
    workloads) and its pod-to-pod listing (``-o txt_no_fw_rules --output_endpoints pods``,
    the closest to the matrix's pairs)."""
    size = args.matrix_size
    path = write_inputs(size, args.seed, ["yaml"])["yaml"]
    nca = Path(args.nca_venv) / "bin" / "nca"
    if not os.access(nca, os.X_OK):
        raise SystemExit(
            f"--nca-venv {args.nca_venv}: no {nca}; pip install network-config-analyzer==2.1.0 there"
        )
    version = subprocess.run([nca, "--version"], capture_output=True, text=True)
    print(f"matrix {label(size)}, YAML input; {(version.stdout or version.stderr).strip()}")
    commands = [
        ("nca connectivity map", [nca, "--connectivity", "-r", path]),
        (
            "nca pod pairs",
            [
                nca,
                "--connectivity",
                "-r",
                path,
                "-o",
                "txt_no_fw_rules",
                "--output_endpoints",
                "pods",
            ],
        ),
    ]
    for name, binary in netaudits:
        commands.append((f"{name}: netaudit matrix", [binary, "matrix", path]))
        if has_option(binary, "matrix", "--by"):
            commands.append(
                (
                    f"{name}: netaudit matrix --by namespace",
                    [binary, "matrix", "--by", "namespace", path],
                )
            )
    rows = [
        {
            "name": name,
            "command": command,
            "out": CACHE / f"matrix-{name.replace(' ', '_').replace(':', '')}.txt",
            "pods": size[0],
            "size": label(size),
        }
        for name, command in commands
    ]
    return measure(rows, args)


def matrix_table(rows: list[dict]) -> list[str]:
    print()
    print("| command | runs | wall: median (min–max) | peak RSS | output |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        wall = f"{r['wall']:.2f} s ({r['wall_min']:.2f}–{r['wall_max']:.2f})"
        print(
            f"| {r['name']} | {len(r['runs'])} | {wall if not r['error'] else 'failed: ' + r['error']} "
            f"| {r['rss_mb']:.0f} MiB | {r['output_mb']:.2f} MB |"
        )
    print()
    worked = [r for r in rows if not r["error"]]
    nca = [r["wall"] for r in worked if r["name"].startswith("nca")]
    if not nca:
        return ["nca failed on the input; no speed-up to give"]
    misses = []
    for r in worked:
        if r["name"].startswith("nca"):
            continue
        speedup = min(nca) / r["wall"]
        print(
            f"{r['name']}: {speedup:.1f}× faster than nca's faster form (target {TARGET_MATRIX_SPEEDUP}×)"
        )
        if speedup < TARGET_MATRIX_SPEEDUP:
            misses.append(f"{r['name']}: {speedup:.1f}× < {TARGET_MATRIX_SPEEDUP}×")
    return misses


def profile(args, sizes, netaudits) -> None:
    """One more audit of the largest size's YAML under pyinstrument (not timed), with the
    last ``--netaudit`` binary's own interpreter, which must have pyinstrument."""
    name, binary = netaudits[-1]
    python = binary.parent / "python"
    if subprocess.run([python, "-c", "import pyinstrument"], capture_output=True).returncode:
        raise SystemExit(
            f"--profile needs pyinstrument in {python}: {binary.parent}/pip install pyinstrument"
        )
    size = max(sizes)
    path = write_inputs(size, args.seed, ["yaml"])["yaml"]
    stem = harness.PROFILES / f"profile-cli-audit-{name}-{size[0]}"
    command = [
        python,
        "-m",
        "pyinstrument",
        "-r",
        "text",
        "-o",
        stem.with_suffix(".txt"),
        binary,
        "audit",
        path,
        "--format",
        "json",
    ]
    run = timed(command, CACHE / "profile-out.json", None)
    print(f"profiled audit of {label(size)} ({run['wall']:.1f} s under pyinstrument): {stem}.txt")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step = harness.step_parser()
    step.add_argument("--kinds")
    if harness.dispatch(argv, {"_write": write_step}, step):
        return 0
    parser = harness.parser(__doc__, profile=False)
    parser.add_argument(
        "--sizes",
        default="5k,10k,20k,50k",
        help="audit sizes, comma-separated: 5k, 10k, 20k, 50k or PODS/NAMESPACES/POLICIES; "
        "'none' for no audit (default: 5k,10k,20k,50k)",
    )
    parser.add_argument(
        "--inputs",
        default="yaml,json",
        help="input formats: yaml, json (4-space indent, as kubectl prints it), json-compact "
        "(default: yaml,json)",
    )
    parser.add_argument(
        "--netaudit",
        action="append",
        metavar="[LABEL=]PATH",
        help="a netaudit binary to time, e.g. another checkout's .venv/bin/netaudit; "
        "repeat to time several in one run (default: this checkout's)",
    )
    parser.add_argument(
        "--long",
        type=float,
        default=60.0,
        help="a first run longer than this many seconds is not repeated (default 60)",
    )
    parser.add_argument("--timeout", type=float, help="stop a run after this many seconds")
    parser.add_argument(
        "--nca-venv",
        metavar="PATH",
        help="a virtualenv with network-config-analyzer: time netaudit matrix against it",
    )
    parser.add_argument(
        "--matrix-size",
        type=parse_size,
        default=MATRIX_SIZE,
        help="size of the matrix comparison (default 1000/20/200)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more audit of the largest size under pyinstrument (not timed)",
    )
    args = harness.check(parser, parser.parse_args(argv))
    args.inputs = [kind.strip() for kind in args.inputs.split(",")]
    if set(args.inputs) - set(INPUTS):
        parser.error(f"--inputs takes {', '.join(INPUTS)}")
    sizes = [] if args.sizes == "none" else [parse_size(s.strip()) for s in args.sizes.split(",")]
    if harness.custom_size(args):
        sizes = [harness.custom_size(args)]
    netaudits = binaries(args.netaudit)
    print(harness.machine())
    for name, binary in netaudits:
        print(f"netaudit {name}: {binary}")
    figures: dict = {}
    misses: list[str] = []
    if sizes:
        figures["audit"] = audit_rows(args, sizes, netaudits)
        audit_table(figures["audit"])
        misses += audit_misses(figures["audit"], netaudits[-1][0])
    if args.nca_venv:
        figures["matrix"] = matrix_rows(args, netaudits)
        misses += matrix_table(figures["matrix"])
    if args.profile and sizes:
        profile(args, sizes, netaudits)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    for miss in misses:
        print(f"target missed: {miss}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
