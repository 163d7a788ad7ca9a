"""Flow replay benchmark (issue 14): 10 million observed flows against a 50,000-pod snapshot.

The cluster is ``bench.synthetic.generate_cluster`` (50,000 pods / 2,000 namespaces /
10,000 policies by default). The flow files are written once into ``var/bench/flows/``
(not timed), in Hubble's ``hubble observe -o json`` and ``-o jsonpb`` shapes, as Goldmane
flows (Calico) and as CSV, from conversations a cluster of that shape has: frontends to backends, backends to databases and caches,
every pod to CoreDNS, Prometheus scraping, the ingress controller to frontends, backends
to outside addresses, and workers trying databases of other namespaces (denied). Each
flow file line repeats one conversation with its own time and source port; about one
line in ten is a reply, which the reader skips.

Each run is a fresh process: build the model (not timed), then ``netpol.flows.replay``
on one file, timed; it reports flows/s (replayable flows, replies left out, over wall
time), its peak RSS and the RSS the replay added to the model's.

    .venv/bin/python bench/bench_flows.py                       # 10M flows, 50k pods, 3 runs
    .venv/bin/python bench/bench_flows.py --flows 1000000 --formats csv --runs 5
    .venv/bin/python bench/bench_flows.py --pods 5000 --namespaces 200 --policies 1000
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness  # noqa: E402

CACHE = harness.ROOT / "var" / "bench" / "flows"
TARGET_RATE = 200_000
FORMATS = {"hubble": ".json", "jsonpb": ".jsonpb.json", "goldmane": ".goldmane.json", "csv": ".csv"}


def conversations(objects: dict, rng: random.Random) -> list[tuple]:
    """(src pod, dst pod or address, port, protocol) a cluster of the synthetic shape has."""
    pods = [p for p in objects["Pod"] if p["status"].get("podIP")]
    by_ns: dict[str, dict[str, list]] = {}
    for p in pods:
        role = p["metadata"]["labels"].get("role") or p["metadata"]["labels"].get("app", "")
        by_ns.setdefault(p["metadata"]["namespace"], {}).setdefault(role, []).append(p)
    dns = [p for p in pods if p["metadata"]["namespace"] == "kube-system"]
    prometheus = [p for p in pods if p["metadata"]["labels"].get("app") == "prometheus"]
    ingress = [p for p in pods if p["metadata"]["namespace"] == "ingress-nginx"]
    app_namespaces = [ns for ns in by_ns if ns.startswith("app-")]
    out = []
    for ns in app_namespaces:
        roles = by_ns[ns]
        for src in roles.get("frontend", []):
            out += [(src, dst, 9090, "TCP") for dst in roles.get("backend", [])]
            if ingress:
                out.append((rng.choice(ingress), src, 8080, "TCP"))
        for src in roles.get("backend", []):
            out += [(src, dst, 5432, "TCP") for dst in roles.get("db", [])]
            out += [(src, dst, 6379, "TCP") for dst in roles.get("cache", [])]
            out.append((src, f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}", 443, "TCP"))
        for role in roles.values():
            for src in role:
                if dns:
                    out.append((src, rng.choice(dns), 53, "UDP"))
                if prometheus:
                    out.append((rng.choice(prometheus), src, 9100, "TCP"))
        for src in roles.get("worker", []):  # denied: another namespace's database
            other = by_ns[rng.choice(app_namespaces)].get("db", [])
            if other:
                out.append((src, rng.choice(other), 5432, "TCP"))
    return out


def _end(end) -> dict:
    if isinstance(end, str):
        return {"identity": 2, "labels": ["reserved:world"]}
    md = end["metadata"]
    labels = [f"k8s:{k}={v}" for k, v in md["labels"].items()]
    labels.append(f"k8s:io.kubernetes.pod.namespace={md['namespace']}")
    return {
        "ID": 1000 + hash(md["name"]) % 3000,
        "identity": 10000 + hash(md["namespace"]) % 50000,
        "namespace": md["namespace"],
        "labels": labels,
        "pod_name": md["name"],
    }


def _ip(end) -> str:
    return end if isinstance(end, str) else end["status"]["podIP"]


def hubble_template(src, dst, port: int, protocol: str, reply: bool) -> str:
    """A line of ``hubble observe -o json`` with %(time)s and %(sport)d left to fill."""
    a, b = (dst, src) if reply else (src, dst)
    ports = {"source_port": 0, "destination_port": 0}
    ports.update(
        {"source_port": port, "destination_port": 0}
        if reply
        else {"source_port": 0, "destination_port": port}
    )
    l4 = {protocol: ports}
    if protocol == "TCP":
        l4[protocol]["flags"] = {"ACK": True} if reply else {"SYN": True}
    flow = {
        "time": "TIME",
        "uuid": "00000000-0000-4000-8000-000000000000",
        "verdict": "FORWARDED",
        "ethernet": {"source": "0a:58:0a:f4:00:01", "destination": "0a:58:0a:f4:00:02"},
        "IP": {"source": _ip(a), "destination": _ip(b), "ipVersion": "IPv4"},
        "l4": l4,
        "source": _end(a),
        "destination": _end(b),
        "Type": "L3_L4",
        "node_name": "node-0001",
        "event_type": {"type": 4},
        "traffic_direction": "INGRESS" if reply else "EGRESS",
        "trace_observation_point": "TO_ENDPOINT",
        "is_reply": reply,
        "Summary": f"{protocol} Flags: {'ACK' if reply else 'SYN'}",
    }
    line = json.dumps(
        {"flow": flow, "node_name": "node-0001", "time": "TIME"}, separators=(",", ":")
    )
    line = line.replace("%", "%%").replace('"TIME"', '"%(time)s"')
    key = '"source_port":0' if not reply else '"destination_port":0'
    return line.replace(key, key.replace("0", "%(sport)d"), 1)


_CAMEL = {
    "source_port": "sourcePort",
    "destination_port": "destinationPort",
    "pod_name": "podName",
    "node_name": "nodeName",
    "event_type": "eventType",
    "traffic_direction": "trafficDirection",
    "trace_observation_point": "traceObservationPoint",
    "is_reply": "isReply",
}


def jsonpb_template(src, dst, port: int, protocol: str, reply: bool) -> str:
    """``hubble observe -o jsonpb``: the same response in protobuf's JSON names."""
    line = hubble_template(src, dst, port, protocol, reply)
    for proto, camel in _CAMEL.items():
        line = line.replace(f'"{proto}":', f'"{camel}":')
    return line


def goldmane_template(src, dst, port: int, protocol: str) -> str:
    """A Goldmane flow (Calico): ends by generated-name prefix and labels, the start time
    in epoch seconds (%(epoch)d); no source port, so a line per aggregation interval."""

    def end(prefix: str, e) -> dict:
        if isinstance(e, str):
            return {f"{prefix}name": "pub", f"{prefix}namespace": "", f"{prefix}type": "Network"}
        md = e["metadata"]
        return {
            f"{prefix}name": md["name"].rsplit("-", 1)[0] + "-*",
            f"{prefix}namespace": md["namespace"],
            f"{prefix}type": "WorkloadEndpoint",
        }

    def labels(e) -> list[str]:
        return (
            [] if isinstance(e, str) else [f"{k}={v}" for k, v in e["metadata"]["labels"].items()]
        )

    key = {
        **end("source_", src),
        **end("dest_", dst),
        "dest_port": port,
        "proto": protocol.lower(),
        "reporter": "Src",
        "action": "Allow",
    }
    flow = {
        "Key": key,
        "start_time": "EPOCH",
        "end_time": "EPOCH",
        "source_labels": labels(src),
        "dest_labels": labels(dst),
        "packets_out": 3,
    }
    line = json.dumps(flow, separators=(",", ":")).replace("%", "%%")
    return line.replace('"EPOCH"', "%(epoch)d")


def csv_template(src, dst, port: int, protocol: str) -> str:
    def ns_pod(end):
        if isinstance(end, str):
            return ","
        return f"{end['metadata']['namespace']},{end['metadata']['name']}"

    return f"%(time)s,{ns_pod(src)},{ns_pod(dst)},{_ip(dst)},{port},{protocol},FORWARDED"


def write_files(pods, namespaces, policies, seed, flows: int, formats) -> dict[str, Path]:
    from bench.synthetic import generate_cluster

    CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"{pods}-{namespaces}-{policies}-{seed}"
    cluster = CACHE / f"cluster-{stem}.json"
    paths = {fmt: CACHE / f"flows-{stem}-{flows}{FORMATS[fmt]}" for fmt in formats}
    if cluster.exists() and all(p.exists() for p in paths.values()):
        return {"cluster": cluster, **paths}
    objects = generate_cluster(pods, namespaces, policies, seed)
    cluster.write_text(json.dumps(objects))
    rng = random.Random(seed)
    talks = conversations(objects, rng)
    for fmt, path in paths.items():
        if path.exists():
            continue
        t0 = time.perf_counter()
        if fmt in ("hubble", "jsonpb"):
            template = hubble_template if fmt == "hubble" else jsonpb_template
            forward = [template(*t, reply=False) for t in talks]
            back = [template(*t, reply=True) for t in talks]
        elif fmt == "goldmane":
            forward = [goldmane_template(*t) for t in talks]
            back = None
        else:
            forward = [csv_template(*t) for t in talks]
            back = None
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            chunk = []
            for i in range(flows):
                t = rng.randrange(len(talks))
                when = f"2025-06-01T{(i // 3_600_000) % 24:02d}:{(i // 60_000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}000Z"
                fill = {"time": when, "sport": 32768 + i % 28000, "epoch": 1748736000 + i // 1000}
                template = back[t] if back is not None and i % 10 == 9 else forward[t]
                chunk.append(template % fill)
                if len(chunk) == 100_000:
                    f.write("\n".join(chunk) + "\n")
                    chunk = []
            if chunk:
                f.write("\n".join(chunk) + "\n")
        tmp.rename(path)
        print(
            f"wrote {path.name}: {flows:,} lines, {path.stat().st_size / 2**30:.2f} GiB "
            f"in {time.perf_counter() - t0:.0f} s ({len(talks):,} conversations)",
            file=sys.stderr,
        )
    return {"cluster": cluster, **paths}


def run_once(cluster: str, flows: str) -> None:
    """One timed replay in this (fresh) process; prints one JSON line."""
    from netpol.engine import ClusterModel
    from netpol.flows import replay

    objects = json.loads(Path(cluster).read_text())
    model = ClusterModel.from_objects(
        objects["Namespace"],
        objects["Pod"],
        objects["Node"],
        objects["NetworkPolicy"],
        objects["Service"],
    )
    model.evaluation  # noqa: B018 (built here, not in the timed part)
    del objects
    rss_model = harness.rss_mb()
    t0 = time.perf_counter()
    result = replay(model, [flows])
    wall = time.perf_counter() - t0
    d = result.to_dict()
    replayed = d["matched"] + d["unmatched"]
    harness.emit(
        {
            "wall": wall,
            "flows": replayed,
            "rate": replayed / wall,
            "skipped": sum(d["skipped"].values()),
            "matched": d["matched"],
            "allowed": len(d["allowed"]),
            "denied": len(d["denied"]),
            "unused_rules": len(d["unused_rules"]),
            "distinct": result.distinct,
            "rss_model_mb": rss_model,
            "peak_mb": harness.peak_mb(),
        }
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["_run"]:
        run_once(argv[1], argv[2])
        return 0
    p = harness.parser(__doc__, runs=3, size_defaults=(50_000, 2_000, 10_000), profile=False)
    p.add_argument("--flows", type=int, default=10_000_000, help="flows per file (default 10M)")
    p.add_argument(
        "--formats",
        default="hubble,csv",
        help="of hubble, jsonpb (hubble -o jsonpb), goldmane (Calico), csv (default hubble,csv)",
    )
    args = harness.check(p, p.parse_args(argv))
    formats = [f for f in args.formats.split(",") if f]
    files = write_files(args.pods, args.namespaces, args.policies, args.seed, args.flows, formats)
    print(f"machine: {harness.machine()}")
    print(
        f"cluster: {args.pods:,} pods, {args.namespaces:,} namespaces, {args.policies:,} policies"
    )
    results = {}
    for fmt in formats:
        runs = []
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, __file__, "_run", str(files["cluster"]), str(files[fmt])],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = runs[-1]
            print(
                f"  {fmt}: {r['flows']:,} flows in {r['wall']:.1f} s = {r['rate']:,.0f} flows/s, "
                f"peak {r['peak_mb']:.0f} MiB (model {r['rss_model_mb']:.0f} MiB)",
                flush=True,
            )
        rate, lo, hi = harness.summary([r["rate"] for r in runs])
        peak = max(r["peak_mb"] for r in runs)
        size = files[fmt].stat().st_size / 2**30
        verdict = "met" if rate >= TARGET_RATE else "NOT met"
        print(
            f"{fmt} ({size:.2f} GiB): median {rate:,.0f} flows/s [{lo:,.0f}-{hi:,.0f}], "
            f"peak RSS {peak:.0f} MiB; target {TARGET_RATE:,} flows/s {verdict}"
        )
        results[fmt] = runs
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
