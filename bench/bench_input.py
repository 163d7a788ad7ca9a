"""Input benchmark: reading a kubectl export with the manifests collector (issue 10).

The input is ``bench.synthetic.kubectl_list`` written as YAML (``yaml.dump``, block
style) and as JSON (4-space indent, as ``kubectl get -o json`` prints it), shared with
``bench/bench_cli.py`` in ``var/bench/cli/``. Each run is a fresh process that times
``ManifestCollector([file]).fetch()``, everything the CLI does before the engine: read,
parse, unpack the List, check each object, complete the namespaces. *parse* is the part
spent in the YAML or JSON reader. Peak RSS is that process's ``ru_maxrss``.

Paths, all in one run, round by round so they share the machine's load:

- ``before``: the reader as it was: the guarded PyYAML reader for YAML, with the cyclic
  garbage collector running, and no JSON cap beyond the YAML one (the 50k JSON, 90 MiB,
  was refused; here the cap is lifted so it can be timed);
- ``gc-paused``: the same guarded reader with the collector paused while reading (YAML);
- ``after``: the collector as it is: the fast reader where it vouches for the text.

    .venv/bin/python bench/bench_input.py                           # 5k 10k 20k 50k, 3 runs
    .venv/bin/python bench/bench_input.py --sizes 5k,50k --runs 5
    .venv/bin/python bench/bench_input.py --candidates --sizes 50k  # the parsers compared

``--candidates`` times the parse alone of each YAML and JSON parser that is installed
(``pip install rapidyaml ryaml yaml-rs fastyaml-rs ruamel.yaml orjson msgspec
pysimdjson``: tools for this comparison, not dependencies), with the garbage collector
paused for all, and says whether each gives what PyYAML gives.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402
from bench.bench_cli import PRESETS, label, parse_size, write_inputs  # noqa: E402

PATHS = {"yaml": ("before", "gc-paused", "after"), "json": ("before", "after")}
NO_CAP = 1 << 30
YAML_CANDIDATES = (
    "pyyaml-guarded",
    "pyyaml-csafe",
    "libfyaml",
    "fast_yaml",
    "yaml_rs",
    "ryaml",
    "ruamel",
    "rapidyaml",
)
JSON_CANDIDATES = ("json", "orjson", "msgspec", "simdjson")


# --- the measured process -------------------------------------------------------------


def measure(args) -> None:
    """One read of ``args.file`` by the collector, in the configuration ``args.path``."""
    from netpol.collect import manifests

    if args.path in ("before", "gc-paused"):
        manifests._libfyaml = lambda: None  # the guarded reader only
    if args.path == "before":
        manifests._gc_paused = _running  # as before: the collector runs throughout
    parse = [0.0]
    for name in ("yaml_documents", "_json_text", "_json_document"):
        setattr(manifests, name, _timed(getattr(manifests, name), parse))

    with harness.profiled(args.profile) as profile:
        started = time.perf_counter()
        collector = manifests.ManifestCollector([args.file], max_json_bytes=NO_CAP)
        objects = sum(1 for _ in collector.fetch())
        seconds = time.perf_counter() - started
    harness.emit(
        {"seconds": seconds, "parse": parse[0], "objects": objects, "rss_mb": harness.peak_mb()}
        | profile
    )


class _running:
    """A stand-in for ``manifests._gc_paused`` that leaves the collector running."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _timed(function, total: list[float]):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - started

    return timed


def candidate(args) -> None:
    """One parse of ``args.file`` by the parser ``args.candidate``; None when missing."""
    path = Path(args.file)
    text = path.read_text()
    data = text.encode()
    try:
        parse = _parsers(args.candidate, path)
    except ImportError as exc:
        harness.emit({"missing": str(exc)})
        return
    gc.disable()
    started = time.perf_counter()
    result = parse(text, data)
    seconds = time.perf_counter() - started
    figures = {"seconds": seconds, "rss_mb": harness.peak_mb()}
    if args.check and result is not None:
        figures["same"] = _same(result, _reference(path, text))
    harness.emit(figures)


def _parsers(name: str, path: Path):
    """``parse(text, data) -> documents`` for a candidate (imports it: ImportError)."""
    if name == "pyyaml-guarded":
        from netpol.collect.manifests import _guarded_documents

        return lambda text, data: _guarded_documents(text, path, 100_000)
    if name == "pyyaml-csafe":
        import yaml

        loader = _csafe_loader()
        return lambda text, data: list(yaml.load_all(text, Loader=loader))
    if name == "libfyaml":
        import libfyaml

        return lambda text, data: [
            d.to_python()
            for d in libfyaml.loads_all(text, mode="yaml1.1-pyyaml", dedup=False, collect_diag=True)
        ]
    if name == "fast_yaml":
        import fast_yaml

        return lambda text, data: list(
            fast_yaml.safe_load_all(text, max_documents=10_000_000, max_scan_ahead=1 << 30)
        )
    if name == "yaml_rs":
        import yaml_rs

        return lambda text, data: [yaml_rs.loads(text, parse_datetime=False)]
    if name == "ryaml":
        import ryaml

        return lambda text, data: ryaml.loads_all(text)
    if name == "ruamel":
        from ruamel.yaml import YAML

        reader = YAML(typ="safe", pure=False)
        return lambda text, data: list(reader.load_all(text))
    if name == "rapidyaml":
        import ryml

        # A tree in C++ only: turning it into Python objects is a walk in Python.
        return lambda text, data: (ryml.parse_in_arena(data), None)[1]
    if name == "json":
        return lambda text, data: [json.loads(text)]
    if name == "orjson":
        import orjson

        return lambda text, data: [orjson.loads(data)]
    if name == "msgspec":
        import msgspec

        return lambda text, data: [msgspec.json.decode(data)]
    if name == "simdjson":
        import simdjson

        return lambda text, data: [simdjson.Parser().parse(data, recursive=True)]
    raise SystemExit(f"unknown candidate {name}")


def _csafe_loader():
    import yaml

    class Loader(yaml.CSafeLoader):
        pass

    # As the collector reads YAML: an unquoted date stays a string.
    Loader.add_constructor(
        "tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_scalar
    )
    return Loader


def _reference(path: Path, text: str) -> list[object]:
    if path.suffix == ".json":
        return [json.loads(text)]
    import yaml

    return list(yaml.load_all(text, Loader=_csafe_loader()))


def _same(a: object, b: object) -> bool:
    """Equal, with the same types (True is not 1) and the same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# --- the orchestrating process --------------------------------------------------------


def collector_rows(args, sizes) -> list[dict]:
    rows = []
    for size in sizes:
        files = write_inputs(size, args.seed, list(PATHS))
        for kind, paths in PATHS.items():
            for path in paths:
                rows.append({"size": size, "input": kind, "path": path, "file": files[kind]})
    for round_ in range(args.runs):
        for row in rows:
            run = harness.run_step(
                __file__, "_measure", [f"--path={row['path']}", f"--file={row['file']}"]
            )
            row.setdefault("runs", []).append(run)
            print(
                f"  run {round_ + 1}: {label(row['size'])} {row['input']:4s} {row['path']:9s} "
                f"{run['seconds']:6.2f} s (parse {run['parse']:5.2f} s), "
                f"{run['rss_mb']:5.0f} MiB, {run['objects']:,} objects",
                flush=True,
            )
    return rows


def collector_table(rows: list[dict]) -> None:
    print()
    print("| pods | input | path | read, median (min–max) | of which parse | peak RSS |")
    print("| ---: | --- | --- | --- | --- | ---: |")
    for row in rows:
        median, low, high = harness.summary([run["seconds"] for run in row["runs"]])
        parse = harness.summary([run["parse"] for run in row["runs"]])[0]
        rss = max(run["rss_mb"] for run in row["runs"])
        print(
            f"| {row['size'][0]:,} | {row['input']} | {row['path']} | "
            f"{median:.2f} s ({low:.2f}–{high:.2f}) | {parse:.2f} s | {rss:.0f} MiB |"
        )


def candidate_rows(args, sizes) -> list[dict]:
    rows = []
    for size in sizes:
        files = write_inputs(size, args.seed, ["yaml", "json"])
        for kind, names in (("yaml", YAML_CANDIDATES), ("json", JSON_CANDIDATES)):
            for name in names:
                rows.append({"size": size, "input": kind, "candidate": name, "file": files[kind]})
    for round_ in range(args.runs):
        for row in rows:
            if row.get("missing"):
                continue
            step = [f"--candidate={row['candidate']}", f"--file={row['file']}"]
            run = harness.run_step(__file__, "_candidate", [*step, f"--check={int(round_ == 0)}"])
            if "missing" in run:
                row["missing"] = run["missing"]
                print(f"  {row['candidate']}: not installed ({run['missing']})", flush=True)
                continue
            row.setdefault("runs", []).append(run)
            if "same" in run:
                row["same"] = run["same"]
            print(
                f"  run {round_ + 1}: {label(row['size'])} {row['input']:4s} "
                f"{row['candidate']:15s} {run['seconds']:6.2f} s, {run['rss_mb']:5.0f} MiB",
                flush=True,
            )
    print()
    print("| pods | input | parser | parse, median (min–max) | peak RSS | same as PyYAML |")
    print("| ---: | --- | --- | --- | ---: | --- |")
    for row in rows:
        if not row.get("runs"):
            continue
        median, low, high = harness.summary([run["seconds"] for run in row["runs"]])
        same = {True: "yes", False: "**no**", None: "—"}[row.get("same")]
        print(
            f"| {row['size'][0]:,} | {row['input']} | {row['candidate']} | "
            f"{median:.2f} s ({low:.2f}–{high:.2f}) | "
            f"{max(run['rss_mb'] for run in row['runs']):.0f} MiB | {same} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step = harness.step_parser()
    step.add_argument("--path", choices=("before", "gc-paused", "after"))
    step.add_argument("--file")
    step.add_argument("--candidate")
    step.add_argument("--check", type=int, default=0)
    if harness.dispatch(argv, {"_measure": measure, "_candidate": candidate}, step):
        return 0
    parser = harness.parser(__doc__, runs=3, profile=False)
    parser.add_argument(
        "--sizes",
        default="5k,10k,20k,50k",
        help=f"comma-separated: {', '.join(PRESETS)} or PODS/NAMESPACES/POLICIES",
    )
    parser.add_argument(
        "--candidates", action="store_true", help="compare the YAML and JSON parsers instead"
    )
    args = harness.check(parser, parser.parse_args(argv))
    sizes = [parse_size(text) for text in args.sizes.split(",")]
    print(harness.machine())
    if args.candidates:
        rows = candidate_rows(args, sizes)
    else:
        rows = collector_rows(args, sizes)
        collector_table(rows)
    if args.json:
        for row in rows:
            row["file"] = str(row["file"])
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
