"""Flow replay benchmark (issue 14): 10 million observed flows against a 50,000-pod snapshot.

The cluster is ``bench.synthetic.generate_cluster`` (50,000 pods / 2,000 namespaces /
10,000 policies by default). The flow files are written once into ``var/bench/flows/``
(not timed), in Hubble's ``hubble observe -o json`` and ``-o jsonpb`` shapes, as Goldmane
flows (Calico) and as CSV, from conversations a cluster of that shape has: frontends to
backends, backends to databases and caches, every pod to CoreDNS, Prometheus scraping,
the ingress controller to frontends, backends to outside addresses (``reserved:world``,
with the name asked), and workers trying databases of other namespaces (denied). Each
line repeats one conversation with its own time and source port; about one line in ten
is a reply, which the reader skips. Hubble lines look like real ones (``.v2`` files):
pods named with their ReplicaSet's hash and their workload, Cilium's own labels, a
uuid each, nanosecond times written as Go's RFC3339Nano writes them (trailing zeros
dropped), the packets of a TCP conversation (SYN, ACK, PSH, FIN: flags, summary and
observation point differ from line to line), and a quarter of the DNS questions as
Hubble's L7 DNS events (skipped: not L3/L4).

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
# v2: Hubble lines as real ones vary (packet flags, nanosecond times, ids, DNS as L7).
FORMATS = {
    "hubble": ".v2.json",
    "jsonpb": ".v2.jsonpb.json",
    "goldmane": ".goldmane.json",
    "csv": ".csv",
}


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
    labels += [
        "k8s:io.cilium.k8s.policy.cluster=default",
        f"k8s:io.cilium.k8s.policy.serviceaccount={md['labels'].get('app', 'default')}",
        f"k8s:io.kubernetes.pod.namespace={md['namespace']}",
    ]
    owner = (md.get("ownerReferences") or [{}])[0]
    out = {
        "ID": 1000 + hash(md["name"]) % 3000,
        "identity": 10000 + hash(md["namespace"]) % 50000,
        "cluster_name": "default",
        "namespace": md["namespace"],
        "labels": sorted(labels),
        "pod_name": md["name"],
    }
    if owner:  # a ReplicaSet's pods are its Deployment's, as Hubble names the workload
        kind, name = owner["kind"], owner["name"]
        if kind == "ReplicaSet":
            kind, name = "Deployment", name.rsplit("-", 1)[0]
        out["workloads"] = [{"name": name, "kind": kind}]
    return out


def _ip(end) -> str:
    return end if isinstance(end, str) else end["status"]["podIP"]


# What one TCP conversation shows in Hubble, a line each: the handshake, data, the close
# (flags, summary, observation point); a reply's first line is the SYN-ACK.
_SHAPES = [
    {"flags": '{"SYN":true}', "summary": "SYN", "point": "TO_STACK"},
    {"flags": '{"ACK":true}', "summary": "ACK", "point": "TO_ENDPOINT"},
    {"flags": '{"PSH":true,"ACK":true}', "summary": "ACK, PSH", "point": "TO_STACK"},
    {"flags": '{"FIN":true,"ACK":true}', "summary": "ACK, FIN", "point": "TO_ENDPOINT"},
]
_REPLY_SHAPES = [{**_SHAPES[0], "flags": '{"SYN":true,"ACK":true}', "summary": "SYN, ACK"}]
_REPLY_SHAPES += _SHAPES[1:]


def hubble_template(src, dst, port: int, protocol: str, reply: bool) -> str:
    """A line of ``hubble observe -o json`` with %(time)s, %(uuid)s, %(sport)d and the
    packet's %(flags)s, %(summary)s and %(point)s (``_SHAPES``) left to fill."""
    a, b = (dst, src) if reply else (src, dst)
    ports = {"source_port": "SPORT", "destination_port": port}
    if reply:
        ports = {"source_port": port, "destination_port": "SPORT"}
    if protocol == "TCP":
        ports["flags"] = "FLAGS"
    node = f"node-{hash(_ip(src)) % 1000:04d}"
    flow = {
        "time": "TIME",
        "uuid": "UUID",
        "verdict": "FORWARDED",
        "ethernet": {"source": "0a:58:0a:f4:00:01", "destination": "0a:58:0a:f4:00:02"},
        "IP": {"source": _ip(a), "destination": _ip(b), "ipVersion": "IPv4"},
        "l4": {protocol: ports},
        "source": _end(a),
        "destination": _end(b),
        "Type": "L3_L4",
        "node_name": node,
        "event_type": {"type": 4, "sub_type": 3},
        "traffic_direction": "INGRESS" if reply else "EGRESS",
        "trace_observation_point": "POINT",
        "is_reply": reply,
        "interface": {"index": 12, "name": "lxc" + format(hash(_ip(a)) % 2**40, "010x")},
        "Summary": "TCP Flags: SUMMARY" if protocol == "TCP" else protocol,
    }
    if isinstance(b, str):
        flow["destination_names"] = ["api.partner.example.com"]
    line = json.dumps({"flow": flow, "node_name": node, "time": "TIME"}, separators=(",", ":"))
    line = line.replace("%", "%%")
    for name, fill in (("TIME", "time"), ("UUID", "uuid"), ("SUMMARY", "summary")):
        line = line.replace(name, f"%({fill})s")
    line = line.replace('"POINT"', '"%(point)s"').replace('"FLAGS"', "%(flags)s")
    return line.replace('"SPORT"', "%(sport)d")


def dns_template(src, dst) -> str:
    """The DNS question of a pod to CoreDNS, as Hubble's L7 event (the reader skips it)."""
    node = f"node-{hash(_ip(src)) % 1000:04d}"
    flow = {
        "time": "TIME",
        "uuid": "UUID",
        "verdict": "FORWARDED",
        "IP": {"source": _ip(src), "destination": _ip(dst), "ipVersion": "IPv4"},
        "l4": {"UDP": {"source_port": "SPORT", "destination_port": 53}},
        "source": _end(src),
        "destination": _end(dst),
        "Type": "L7",
        "node_name": node,
        "l7": {"type": "REQUEST", "dns": {"query": "db.svc.cluster.local.", "qtypes": ["A"]}},
        "event_type": {"type": 129},
        "traffic_direction": "EGRESS",
        "is_reply": False,
        "Summary": "DNS Query db.svc.cluster.local. A",
    }
    line = json.dumps({"flow": flow, "node_name": node, "time": "TIME"}, separators=(",", ":"))
    line = line.replace("%", "%%").replace('"TIME"', '"%(time)s"').replace('"UUID"', '"%(uuid)s"')
    return line.replace('"SPORT"', "%(sport)d")


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


def _time(i: int) -> str:
    return f"2025-06-01T{(i // 3_600_000) % 24:02d}:{(i // 60_000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}000Z"


def _hubble_time(i: int) -> str:
    """Hubble's time: RFC 3339 with nanoseconds, trailing zeros left out (Go's RFC3339Nano)."""
    seconds, nanos = divmod(36_000 * 10**9 + i * 1_000_037, 10**9)
    clock = f"2025-06-01T{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{clock}.{fraction}Z" if fraction else f"{clock}Z"


def _uuid(i: int) -> str:
    h = (i * 0x9E3779B97F4A7C15F39CC0605CEDC835 + 0x6A09E667F3BCC908B2FB1366EA957D3E) % 2**128
    return f"{h >> 96:08x}-{h >> 80 & 0xFFFF:04x}-4{h >> 68 & 0xFFF:03x}-8{h >> 56 & 0xFFF:03x}-{h & 0xFFFFFFFFFFFF:012x}"


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
        dns: dict[int, str] = {}
        if fmt in ("hubble", "jsonpb"):
            template = hubble_template if fmt == "hubble" else jsonpb_template
            forward = [template(*t, reply=False) for t in talks]
            back = [template(*t, reply=True) for t in talks]
            if fmt == "hubble":
                dns = {k: dns_template(t[0], t[1]) for k, t in enumerate(talks) if t[2] == 53}
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
                shape = (i // 10) % 4
                fill = {
                    "time": _hubble_time(i) if back is not None else _time(i),
                    "uuid": _uuid(i),
                    "sport": 32768 + i % 28000,
                    "epoch": 1748736000 + i // 1000,
                }
                if back is not None and i % 10 == 9:
                    fill.update(_REPLY_SHAPES[shape])
                    template = back[t]
                else:
                    fill.update(_SHAPES[shape])
                    template = dns.get(t, forward[t]) if shape == 3 else forward[t]
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
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = replay(model, [flows])
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    d = result.to_dict()
    replayed = d["matched"] + d["unmatched"]
    harness.emit(
        {
            "wall": wall,
            "flows": replayed,
            "rate": replayed / wall,
            # On a shared machine the process's CPU time says what one core does alone
            # better than the wall time (still inflated when the cores are contended).
            "cpu": cpu,
            "rate_cpu": replayed / cpu,
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
                f"  {fmt}: {r['flows']:,} flows in {r['wall']:.1f} s = {r['rate']:,.0f} flows/s "
                f"({r['cpu']:.1f} s CPU = {r['rate_cpu']:,.0f} flows/s), "
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
