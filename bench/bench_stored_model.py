"""Stored-model benchmark: size, save and load of the model stored with a snapshot.

The analysis stores the model it built (``auditor.storage.save_model``) so the first
engine-backed page after a restart loads it instead of building it. This measures the
two stored forms on ``bench.synthetic.generate_cluster`` after ``audit``, the allowed
set and the exposure (what the analysis has computed when it stores the model):

* ``pickle``: ``pickle.dumps(model, protocol=5)``, the form stored before issue 10's
  compact form;
* ``compact``: ``netpol.engine.model_to_bytes`` (``netpol/engine/compact.py``).

A *prepare* process builds the model once and writes both bodies under
``var/bench/stored-model/`` (dump time and size measured there). Then each of ``--runs``
rounds loads each form in a fresh process, alternating, as ``load_model`` does after a
restart: read the file, keyed BLAKE2b over it (the signature), unpickle with the
collector paused. Reported: the median (min-max) of each part and of the whole.

    .venv/bin/python bench/bench_stored_model.py --pods 50000 --namespaces 2000 --policies 10000
    .venv/bin/python bench/bench_stored_model.py --profile     # one compact load under pyinstrument
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

FORMS = ("pickle", "compact")
FOLDER = harness.PROFILES / "stored-model"
KEY = hashlib.sha256(b"bench-stored-model").digest()  # any key: the cost is the same


def _path(form: str, args) -> Path:
    return FOLDER / f"{args.pods}-{args.namespaces}-{args.policies}-{args.seed}.{form}"


def prepare(args) -> None:
    """Build and audit the model, store it in both forms (dump time and size)."""
    from bench.synthetic import generate_cluster
    from netpol.engine import ClusterModel, gc_paused, model_to_bytes
    from netpol.findings import audit

    objects = generate_cluster(args.pods, args.namespaces, args.policies, args.seed)
    started = time.perf_counter()
    model = ClusterModel.from_objects(
        namespaces=objects["Namespace"],
        pods=objects["Pod"],
        nodes=objects["Node"],
        policies=objects["NetworkPolicy"],
        services=objects["Service"],
    )
    audit(model)
    model.allowed_connections()  # what storage.save_model computes before storing
    model.external_exposure()
    built = time.perf_counter() - started
    FOLDER.mkdir(parents=True, exist_ok=True)
    out = {"build_and_audit_s": built}
    for form in FORMS:
        started = time.perf_counter()
        if form == "pickle":
            with gc_paused():
                body = pickle.dumps(model, protocol=5)
        else:
            body = model_to_bytes(model)
        out[f"{form}_dump_s"] = time.perf_counter() - started
        out[f"{form}_mb"] = len(body) / 1e6
        _path(form, args).write_bytes(body)
    harness.emit(out)


def load(args) -> None:
    """Read, sign and load one stored form, as ``load_model`` does after a restart."""
    from netpol.engine import gc_paused, model_from_bytes

    form = FORMS[args.form]
    started = time.perf_counter()
    body = _path(form, args).read_bytes()
    read = time.perf_counter()
    hashlib.blake2b(body, key=KEY, digest_size=32).digest()
    signed = time.perf_counter()
    with harness.profiled(args.profile):
        if form == "pickle":
            with gc_paused():
                model = pickle.loads(body)
        else:
            model = model_from_bytes(body)
    loaded = time.perf_counter()
    assert model.pods
    harness.emit(
        {
            "read_s": read - started,
            "signature_s": signed - read,
            "load_s": loaded - signed,
            "total_s": loaded - started,
            "peak_rss_mb": harness.peak_mb(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if harness.dispatch(argv, {"_prepare": prepare, "_load": load}, harness.step_parser("form")):
        return 0
    parser = harness.parser(__doc__, runs=5, size_defaults=(50_000, 2_000, 10_000))
    args = harness.check(parser, parser.parse_args(argv))
    size = harness.size_args(args)
    print(f"stored model: {args.pods} pods, {args.namespaces} namespaces, {args.policies} policies")
    print(harness.machine())
    prepared = harness.run_step(__file__, "_prepare", size)
    print(f"  built and audited in {prepared['build_and_audit_s']:.1f} s (not in the figures)")
    runs: dict[str, list[dict]] = {form: [] for form in FORMS}
    for _ in range(args.runs):
        for i, form in enumerate(FORMS):
            runs[form].append(harness.run_step(__file__, "_load", [*size, f"--form={i}"]))
    print(
        f"{'form':<8} {'MB':>7} {'dump s':>7}  "
        + "  ".join(f"{part:>18}" for part in ("read s", "signature s", "load s", "total s"))
        + f"  {'peak RSS MiB':>12}"
    )
    for form in FORMS:
        cells = []
        for part in ("read_s", "signature_s", "load_s", "total_s"):
            median, low, high = harness.summary([r[part] for r in runs[form]])
            cells.append(f"{median:6.3f} ({low:.3f}-{high:.3f})")
        rss = harness.summary([r["peak_rss_mb"] for r in runs[form]])[0]
        print(
            f"{form:<8} {prepared[f'{form}_mb']:7.1f} {prepared[f'{form}_dump_s']:7.2f}  "
            + "  ".join(cells)
            + f"  {rss:12.0f}"
        )
    if args.profile:
        stem = harness.PROFILES / f"profile-stored-model-{args.pods}"
        harness.run_step(__file__, "_load", [*size, "--form=1", f"--profile={stem}"])
        print(f"profile of a compact load: {stem}.txt")
    if args.json:
        Path(args.json).write_text(json.dumps({"prepared": prepared, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
