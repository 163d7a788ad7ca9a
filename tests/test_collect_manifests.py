"""The manifests backend: reading files, workload templates, namespaces, bad input, the demo."""

from __future__ import annotations

import gc
import json
import math
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netpol.collect import manifests
from netpol.collect.base import CollectionError
from netpol.collect.kinds import KINDS
from netpol.collect.manifests import (
    DEFAULT_MAX_ALIAS_NODES,
    DEFAULT_MAX_FILE_BYTES,
    ManifestCollector,
)
from netpol.collect.normalize import FROM_TEMPLATE_ANNOTATION, normalize

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster"
NAME_LABEL = "kubernetes.io/metadata.name"


def collect(*paths, **options) -> tuple[dict[str, list[dict]], list[str]]:
    """The objects a collector yields, by kind, and its warnings."""
    collector = ManifestCollector(list(paths), **options)
    objects = defaultdict(list)
    for kind, obj in collector.fetch():
        assert kind in KINDS
        objects[kind].append(obj)
    return objects, collector.warnings


def names(objects: dict, kind: str) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects[kind]]


def failure(*paths, **options) -> str:
    """The message of the CollectionError that reading ``paths`` raises."""
    with pytest.raises(CollectionError) as info:
        list(ManifestCollector(list(paths), **options).fetch())
    return str(info.value)


def write(directory: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


POD = "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop}}\n"
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"


# --- Reading files ----------------------------------------------------------------------


def test_multi_document_yaml_yields_each_kind_in_order_and_skips_the_rest():
    objects, warnings = collect(FIXTURES / "multi.yaml")
    assert {kind: names(objects, kind) for kind in objects} == {
        "Namespace": ["shop"],
        "Pod": ["web-1"],
        "NetworkPolicy": ["default-deny"],
        "Service": ["web"],
    }
    assert warnings == ["skipped 1 ConfigMap document"]
    # The order of KINDS, whatever the order in the file.
    collector = ManifestCollector([FIXTURES / "multi.yaml"])
    assert [kind for kind, _ in collector.fetch()] == [
        "Namespace",
        "Pod",
        "NetworkPolicy",
        "Service",
    ]


def test_kubectl_list_items_are_read_as_objects():
    objects, _ = collect(FIXTURES / "kubectl-list.yaml")
    [pod] = objects["Pod"]
    record = normalize("Pod", pod)
    assert (record.name, record.ips, record.workload_kind, record.workload_name) == (
        "api-7d9f8b6c5-x2x9q",
        ["10.244.0.17"],
        "Deployment",
        "api",
    )
    assert names(objects, "NetworkPolicy") == ["api"]
    # Live pods, not templates: nothing is marked as made up.
    assert not record.from_template


def test_json_api_list_items_take_their_kind_from_the_list():
    objects, warnings = collect(FIXTURES / "nodes.json")
    assert names(objects, "Node") == ["worker-1", "worker-2"]
    assert [normalize("Node", n).pod_cidrs for n in objects["Node"]] == [
        ["10.244.0.0/24"],
        ["10.244.1.0/24"],
    ]
    assert warnings == []


def test_directories_are_walked_recursively_in_order_skipping_hidden_and_other_files(tmp_path):
    write(
        tmp_path,
        {
            "b.yaml": POD.format(name="b"),
            "a/one.yml": POD.format(name="a-one"),
            "a/two.JSON": '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a-two", "namespace": "shop"}}',
            "a/.draft.yaml": POD.format(name="hidden-file"),
            ".git/config.yaml": POD.format(name="hidden-directory"),
            "notes.txt": POD.format(name="not-a-manifest"),
            "README.md": "# not a manifest",
            "namespace.yaml": NAMESPACE,
        },
    )
    objects, warnings = collect(tmp_path, tmp_path / "b.yaml")  # b.yaml twice: read once
    assert names(objects, "Pod") == ["a-one", "a-two", "b"]
    assert names(objects, "Namespace") == ["shop"]
    assert warnings == []


def test_a_file_named_explicitly_is_read_whatever_its_suffix(tmp_path):
    path = write(tmp_path, {"pods.txt": POD.format(name="p") + "---\n" + NAMESPACE}) / "pods.txt"
    objects, _ = collect(path)
    assert names(objects, "Pod") == ["p"]


def test_anchors_aliases_and_merge_keys_in_moderation_are_fine_and_dates_stay_strings(tmp_path):
    write(
        tmp_path,
        {
            "web.yaml": """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: &labels {app: web, tier: frontend}
  annotations:
    deployed: 2024-06-01
spec:
  containers:
    - &container {name: web, ports: [{name: http, containerPort: 8080}]}
    - {<<: *container, name: sidecar}
  nodeSelector: *labels
""",
        },
    )
    objects, _ = collect(tmp_path)
    [pod] = objects["Pod"]
    assert pod["metadata"]["annotations"]["deployed"] == "2024-06-01"
    assert pod["spec"]["nodeSelector"] == {"app": "web", "tier": "frontend"}
    assert [c["name"] for c in pod["spec"]["containers"]] == ["web", "sidecar"]


def test_other_kinds_are_counted_in_one_warning_each_and_other_api_groups_are_not_ours(tmp_path):
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: shop}}\n"
    write(
        tmp_path,
        {
            "all.yaml": "---\n".join(
                [
                    NAMESPACE,
                    *(config_map.format(i=i) for i in range(3)),
                    "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\n",
                    # Calico's own policy and a Knative Service share names with ours:
                    # Calico's is read as Calico's, the Knative one is skipped.
                    "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
                    "metadata: {name: calico, namespace: shop}\n",
                    "apiVersion: serving.knative.dev/v1\nkind: Service\n"
                    "metadata: {name: knative, namespace: shop}\n",
                    "apiVersion: example.com/v1\nkind: NetworkPolicy\n"
                    "metadata: {name: other, namespace: shop}\n",
                ]
            )
        },
    )
    objects, warnings = collect(tmp_path)
    assert names(objects, "Namespace") == ["shop"]
    assert not objects["NetworkPolicy"] and not objects["Service"]
    assert names(objects, "projectcalico.org/NetworkPolicy") == ["calico"]
    assert warnings == [
        "skipped 3 ConfigMap documents",
        "skipped 1 Secret document",
        "skipped 1 Service (serving.knative.dev) document",
        "skipped 1 NetworkPolicy (example.com) document",
    ]


def test_legacy_extensions_network_policy_is_read(tmp_path):
    write(
        tmp_path,
        {
            "np.yaml": "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\n"
            "metadata: {name: old, namespace: shop}\nspec: {podSelector: {}}\n---\n" + NAMESPACE
        },
    )
    objects, _ = collect(tmp_path)
    assert names(objects, "NetworkPolicy") == ["old"]


# --- Workload templates -----------------------------------------------------------------


def test_each_workload_kind_expands_to_its_pods():
    objects, warnings = collect(FIXTURES / "workloads.yaml", FIXTURES / "nodes.json")
    by_workload = defaultdict(list)
    for pod in objects["Pod"]:
        record = normalize("Pod", pod)
        by_workload[(record.workload_kind, record.workload_name)].append(record)
    assert {key: [r.name for r in pods] for key, pods in by_workload.items()} == {
        ("Deployment", "web"): ["web-0", "web-1", "web-2"],  # replicas: 3
        ("StatefulSet", "db"): ["db-0"],  # replicas defaults to 1
        ("DaemonSet", "agent"): ["agent-0", "agent-1"],  # one per node
        ("ReplicaSet", "legacy"): ["legacy-0", "legacy-1"],
        ("Job", "import"): ["import-0", "import-1"],  # parallelism: 2
        ("CronJob", "report"): ["report-0"],  # one, whatever the job's parallelism
    }  # Deployment "idle" has replicas: 0 and makes no pod
    agents = by_workload[("DaemonSet", "agent")]
    assert [a.node_name for a in agents] == ["worker-1", "worker-2"]
    assert all(a.host_network for a in agents)
    records = [normalize("Pod", pod) for pod in objects["Pod"]]
    assert all(r.from_template and r.phase == "Running" and not r.ips for r in records)
    assert warnings == [
        "namespaces shop, ops, jobs used but not declared; added with only the "
        "kubernetes.io/metadata.name label"
    ]


def test_a_template_pod_has_the_template_labels_spec_and_the_workload_as_owner():
    objects, _ = collect(FIXTURES / "workloads.yaml")
    web = next(p for p in objects["Pod"] if p["metadata"]["name"] == "web-0")
    assert web["metadata"] == {
        "name": "web-0",
        "namespace": "shop",
        "labels": {"app": "web", "tier": "frontend"},
        "annotations": {"prometheus.io/scrape": "true", FROM_TEMPLATE_ANNOTATION: "true"},
        "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
    }
    assert web["spec"] == {
        "containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}]
    }
    assert web["status"] == {"phase": "Running"}
    assert normalize("Pod", web).container_ports == [
        {"name": "http", "port": 8080, "protocol": "TCP"}
    ]
    # Each pod has its own copy: changing one changes no other.
    web["spec"]["containers"].clear()
    assert next(p for p in objects["Pod"] if p["metadata"]["name"] == "web-1")["spec"]["containers"]


def test_daemonset_without_nodes_makes_one_pod_and_namespace_defaults_to_default(tmp_path):
    write(
        tmp_path,
        {
            "ds.yaml": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\n"
            "spec: {template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: a}]}}}\n"
        },
    )
    objects, _ = collect(tmp_path)
    [pod] = objects["Pod"]
    assert (pod["metadata"]["name"], pod["metadata"]["namespace"]) == ("agent-0", "default")
    assert "nodeName" not in pod["spec"]
    assert names(objects, "Namespace") == ["default"]


def test_replicaset_and_job_are_left_to_their_owner_when_it_is_in_the_input(tmp_path):
    deployment = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec: {replicas: 2, template: {metadata: {labels: {app: api}}, spec: {containers: [{name: api}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-5f7c9
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, controller: true}]
spec:
  replicas: 2
  template: {metadata: {labels: {app: api, pod-template-hash: 5f7c9}}, spec: {containers: [{name: api}]}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: report-28641230
  namespace: shop
  ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: report, controller: true}]
spec: {template: {metadata: {labels: {app: report}}, spec: {containers: [{name: r}]}}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: orphan-28641230
  namespace: shop
  ownerReferences: [{apiVersion: batch/v1, kind: CronJob, name: deleted, controller: true}]
spec: {template: {metadata: {labels: {app: orphan}}, spec: {containers: [{name: o}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "@hourly"
  jobTemplate: {spec: {template: {metadata: {labels: {app: report}}, spec: {containers: [{name: r}]}}}}
"""
    write(tmp_path, {"shop.yaml": NAMESPACE + "---\n" + deployment})
    objects, _ = collect(tmp_path)
    assert names(objects, "Pod") == ["api-0", "api-1", "orphan-28641230-0", "report-0"]
    # The orphaned Job's pod is still attributed to its CronJob by the name rule.
    orphan = normalize("Pod", objects["Pod"][2])
    assert (orphan.workload_kind, orphan.workload_name) == ("CronJob", "orphan")


def test_pods_in_the_input_mean_no_template_is_expanded(tmp_path):
    write(tmp_path, {"shop.yaml": NAMESPACE + "---\n" + POD.format(name="live-0")})
    objects, warnings = collect(tmp_path, FIXTURES / "workloads.yaml")
    assert names(objects, "Pod") == ["live-0"]
    assert warnings[0] == (
        "the input has Pod objects, so its 7 workload templates (CronJob, DaemonSet, Deployment, "
        "Job, ReplicaSet, StatefulSet) were not expanded into pods"
    )


def test_too_many_template_pods_are_refused(tmp_path):
    write(
        tmp_path,
        {
            "big.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big, namespace: shop}\n"
            "spec: {replicas: 100000000, template: {spec: {containers: [{name: c}]}}}\n"
        },
    )
    message = failure(tmp_path)
    assert "big.yaml, document 1 (Deployment)" in message and "more than 20,000 pods" in message


# --- Namespaces -------------------------------------------------------------------------


def test_declared_namespaces_get_the_name_label_the_api_server_sets(tmp_path):
    write(
        tmp_path,
        {
            "ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {team: x}}\n---\n"
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: b, labels: null}\n---\n"
            "apiVersion: v1\nkind: Namespace\n"
            "metadata: {name: c, labels: {kubernetes.io/metadata.name: wrong}}\n"
        },
    )
    objects, warnings = collect(tmp_path)
    assert [ns["metadata"]["labels"] for ns in objects["Namespace"]] == [
        {"team": "x", NAME_LABEL: "a"},
        {NAME_LABEL: "b"},
        {NAME_LABEL: "c"},  # the API server would not keep another value
    ]
    assert warnings == []


def test_namespaces_only_referred_to_are_added_with_a_warning(tmp_path):
    write(
        tmp_path,
        {
            "objects.yaml": POD.format(name="p")
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"  # no namespace: default
            + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            + "metadata: {name: n, namespace: shop}\nspec: {podSelector: {}}\n"
        },
    )
    objects, warnings = collect(tmp_path)
    assert [(ns["metadata"]["name"], ns["metadata"]["labels"]) for ns in objects["Namespace"]] == [
        ("shop", {NAME_LABEL: "shop"}),
        ("default", {NAME_LABEL: "default"}),
    ]
    assert warnings == [
        "namespaces shop, default used but not declared; added with only the "
        "kubernetes.io/metadata.name label"
    ]


# --- Bad input --------------------------------------------------------------------------

GOOD = NAMESPACE + "---\n"

BAD_DOCUMENTS = [
    pytest.param(
        "pods.yaml",
        GOOD + "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n namespace: shop\n",
        ["pods.yaml, document 2: invalid YAML at line 9, column 2"],
        id="invalid-yaml",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + GOOD + "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n",
        ["pods.yaml, document 3: invalid YAML at line 12"],
        id="invalid-yaml-flow",
    ),
    pytest.param(
        "pods.json",
        '{"apiVersion": "v1",\n "kind": "Pod"\n "metadata": {}}',
        ["pods.json, document 1: invalid JSON at line 3, column 2"],
        id="invalid-json",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "apiVersion: v1\nmetadata: {name: x}\n",
        ["pods.yaml, document 2: kind is missing"],
        id="no-kind",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "kind: Pod\nmetadata: {name: x}\n",
        ["pods.yaml, document 2: apiVersion is missing"],
        id="no-api-version",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + GOOD + "apiVersion: v1\nkind: Pod\nmetadata: {namespace: shop}\n",
        ["pods.yaml, document 3 (Pod): metadata.name is missing"],
        id="no-name",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "apiVersion: v1\nkind: ConfigMap\n",
        ["pods.yaml, document 2 (ConfigMap): metadata.name is missing"],
        id="no-metadata-even-for-a-skipped-kind",
    ),
    pytest.param(
        "pods.yaml",
        "- apiVersion: v1\n- kind: Pod\n",
        ["pods.yaml, document 1: a list, not a mapping"],
        id="not-a-mapping",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "just some text\n",
        ["pods.yaml, document 2: a string, not a mapping"],
        id="a-scalar",
    ),
    pytest.param(
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- "
        + POD.format(name="a").replace("\n", "\n  ")
        + "\n- {apiVersion: v1, kind: Pod, metadata: {namespace: shop}}\n",
        ["list.yaml, document 1 (List), item 2 (Pod): metadata.name is missing"],
        id="list-item",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: [a, b]}\n",
        ["pods.yaml, document 2 (Pod):", "metadata.labels is not a mapping"],
        id="labels-not-a-mapping",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: {name: c}}\n",
        ["pods.yaml, document 2 (Pod): Pod x: malformed object"],
        id="containers-not-a-list",
    ),
    pytest.param(
        "deploy.yaml",
        GOOD + "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
        "spec: {replicas: three, template: {spec: {containers: []}}}\n",
        ["deploy.yaml, document 2 (Deployment): spec.replicas is 'three', not a whole number"],
        id="replicas-not-a-number",
    ),
    pytest.param(
        "deploy.yaml",
        GOOD
        + "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {schedule: '@daily'}\n",
        ["deploy.yaml, document 2 (CronJob): spec.jobTemplate.spec.template is missing"],
        id="no-template",
    ),
    pytest.param(
        "pods.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\n",
        ["pods.yaml: not UTF-8 text (byte 0xe9 on line 3)"],
        id="not-utf8",
    ),
    pytest.param(
        "pods.yaml",
        GOOD + "a: &a [x, *a]\n",
        [
            "pods.yaml, document 2: refused YAML at line 5, column 11",
            "alias *a refers to a node that contains it",
        ],
        id="recursive-alias",
    ),
    pytest.param(
        "pods.yaml",
        "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
        ["pods.yaml, document 1: refused YAML at line 1", "nested deeper than 128 levels"],
        id="deep-nesting",  # libyaml's own composer would crash the process
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_DOCUMENTS)
def test_bad_input_names_the_file_and_the_document(tmp_path, name, content, expected):
    write(tmp_path, {name: content})
    message = failure(tmp_path)
    for fragment in expected:
        assert fragment in message


def test_a_character_yaml_forbids_is_reported_by_line(tmp_path):
    # The reader rejects it before the parser knows which document holds it.
    write(tmp_path, {"pods.yaml": GOOD + "apiVersion: v1\nkind: Pod\nmetadata: {name: \x00}\n"})
    message = failure(tmp_path)
    assert message == (
        f"{tmp_path / 'pods.yaml'}, line 7: invalid YAML: character #x0000 "
        "(control characters are not allowed)"
    )


def test_a_missing_path_is_an_error(tmp_path):
    assert failure(tmp_path / "nope") == f"{tmp_path / 'nope'}: no such file or directory"


def test_a_directory_without_manifests_is_an_error(tmp_path):
    write(tmp_path, {"README.md": "hello", ".hidden.yaml": NAMESPACE, "sub/notes.txt": "x"})
    assert failure(tmp_path) == f"{tmp_path}: no .yaml, .yml or .json files in this directory"


def test_no_paths_is_an_error():
    assert failure() == "no manifest file or directory given"


def test_input_with_nothing_to_audit_is_an_error(tmp_path):
    write(
        tmp_path,
        {
            "empty.yaml": "# nothing here\n",
            "config.yaml": "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        },
    )
    message = failure(tmp_path)
    assert (
        "no Namespace, Node, Pod, NetworkPolicy, Service or workload objects in 2 files" in message
    )


def test_files_over_the_size_cap_are_refused_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # sparse: no disk used, too slow to parse
    assert DEFAULT_MAX_FILE_BYTES == 64 * 1024 * 1024
    started = time.perf_counter()
    message = failure(tmp_path)
    assert time.perf_counter() - started < 1
    assert message == f"{path}: 67,108,865 bytes is over the limit of 67,108,864 bytes per file"


def test_the_size_cap_is_configurable(tmp_path):
    write(tmp_path, {"pods.yaml": NAMESPACE + "# " + "x" * 2000 + "\n"})
    assert "bytes is over the limit of 1,024 bytes per file" in failure(
        tmp_path, max_file_bytes=1024
    )
    objects, _ = collect(tmp_path, max_file_bytes=4096)
    assert names(objects, "Namespace") == ["shop"]


BILLION_LAUGHS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: lol, namespace: shop}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_billion_laughs_bomb_is_refused_quickly(tmp_path):
    write(tmp_path, {"bomb.yaml": GOOD + BILLION_LAUGHS})
    started = time.perf_counter()
    message = failure(tmp_path)
    assert time.perf_counter() - started < 2
    assert message.startswith(f"{tmp_path / 'bomb.yaml'}, document 2: refused YAML at line ")
    assert "aliases repeat more than 100,000 nodes" in message


def test_a_merge_key_bomb_is_refused_quickly(tmp_path):
    # Merge keys copy entries: each level holds ten copies of the one before.
    levels = ["  l0: &l0 {a: 1, b: 2}"]
    levels += [f"  l{i}: &l{i} {{<<: [{', '.join([f'*l{i - 1}'] * 10)}]}}" for i in range(1, 10)]
    write(
        tmp_path,
        {
            "merge.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata:\n"
            + "\n".join(levels)
        },
    )
    started = time.perf_counter()
    message = failure(tmp_path)
    assert time.perf_counter() - started < 2
    assert "merge.yaml, document 1: refused YAML" in message


def test_the_alias_budget_is_configurable(tmp_path):
    write(
        tmp_path,
        {"pods.yaml": GOOD + POD.format(name="p") + "spec: {containers: [&c {name: a}, *c, *c]}\n"},
    )
    assert "aliases repeat more than 3 nodes" in failure(tmp_path, max_alias_nodes=3)
    objects, _ = collect(tmp_path, max_alias_nodes=6)
    assert len(objects["Pod"][0]["spec"]["containers"]) == 3


def test_nothing_is_yielded_before_a_bad_file_fails_the_run(tmp_path):
    write(tmp_path, {"a.yaml": GOOD + POD.format(name="good"), "b.yaml": "kind: [\n"})
    objects = ManifestCollector([tmp_path]).fetch()
    with pytest.raises(CollectionError, match=re.escape("b.yaml, document 1: invalid YAML")):
        next(objects)


# --- The demo cluster -------------------------------------------------------------------


def test_the_demo_cluster_loads_cleanly_and_every_object_normalises():
    objects, warnings = collect(DEMO)
    assert warnings == []
    assert {kind: len(objects[kind]) for kind in KINDS if objects[kind]} == {
        "Namespace": 8,
        "Node": 3,
        "Pod": 60,
        "NetworkPolicy": 22,
        "Service": 16,
        "ClusterNetworkPolicy": 1,
    }
    records = {kind: [normalize(kind, obj) for obj in objects[kind]] for kind in KINDS}
    assert sorted(ns.name for ns in records["Namespace"]) == [
        "batch",
        "ingress-nginx",
        "kube-system",
        "monitoring",
        "payments",
        "shop-backend",
        "shop-db",
        "shop-frontend",
    ]
    assert all(ns.labels[NAME_LABEL] == ns.name for ns in records["Namespace"])
    assert all(pod.from_template and pod.workload_kind for pod in records["Pod"])
    assert sorted(p.name for p in records["Pod"] if p.host_network) == sorted(
        f"{ds}-{i}" for ds in ("calico-node", "kube-proxy", "node-exporter") for i in range(3)
    )
    assert [n.pod_cidrs for n in records["Node"]] == [
        ["10.244.0.0/24"],
        ["10.244.1.0/24"],
        ["10.244.2.0/24"],
    ]
    namespaces_with_policies = {p.namespace for p in records["NetworkPolicy"]}
    assert "batch" not in namespaces_with_policies and len(namespaces_with_policies) == 7


def test_every_demo_policy_has_a_comment_and_a_row_in_the_readme():
    readme = (DEMO / "README.md").read_text()
    policies = 0
    for path in sorted(DEMO.glob("*.yaml")):
        for document in path.read_text().split("\n---\n"):
            if "\nkind: NetworkPolicy\n" not in document:
                continue
            policies += 1
            assert document.lstrip("-\n").startswith("#"), (
                f"{path.name}: a policy without a comment"
            )
            name = re.search(r"^  name: (\S+)$", document, re.MULTILINE).group(1)
            namespace = re.search(r"^  namespace: (\S+)$", document, re.MULTILINE).group(1)
            assert f"| {namespace} | {name} |" in readme, f"{namespace}/{name} is not in the README"
    assert policies == 22


def test_a_named_pipe_in_a_manifest_directory_is_refused_not_read(tmp_path):
    """A FIFO named *.yaml would block a plain read forever; it is refused by name."""
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    fifo = tmp_path / "stuck.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(CollectionError) as error:
        collect(tmp_path)
    assert time.monotonic() - started < 5
    assert str(error.value) == (
        f"{fifo}: not a regular file (a named pipe); manifests are read from regular files only"
    )


def test_a_device_given_by_name_is_refused(tmp_path):
    with pytest.raises(CollectionError) as error:
        collect(Path("/dev/zero"))
    assert str(error.value) == (
        "/dev/zero: not a regular file (a character device); manifests are read from regular files only"
    )


def test_the_cli_exits_2_on_a_named_pipe_instead_of_hanging(tmp_path):
    os.mkfifo(tmp_path / "stuck.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "netpol.cli", "audit", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "stuck.yaml: not a regular file (a named pipe)" in result.stderr


POD_TEMPLATE = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
  labels: {{app: web, note: {value}}}
status: {{podIP: 10.0.0.5}}
"""


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (
            "p" * 300,
            "ok",
            "Pod metadata.name: '"
            + "p" * 60
            + "... (300 characters)' is longer than 253 characters",
        ),
        ("web/0", "ok", "Pod metadata.name: 'web/0' is not a valid name"),
        (
            "web-0",
            "v" * 2_000_000,
            "Pod web-0: metadata.labels: label 'note' has a value of 2,000,000 characters (at most 63)",
        ),
        (
            "web-0",
            '"evil\u202eexe"',
            "Pod web-0: metadata.labels: label 'note' has the value 'evil\\u202eexe', which is not valid",
        ),
    ],
)
def test_names_and_labels_the_api_server_would_refuse_are_errors_naming_file_and_field(
    tmp_path, name, value, expected
):
    write(tmp_path, {"pods.yaml": POD_TEMPLATE.format(name=name, value=value)})
    message = failure(tmp_path, max_file_bytes=4_000_000)
    assert message.startswith(f"{tmp_path / 'pods.yaml'}, document 1 (Pod): ")
    assert expected in message


def test_a_kustomization_without_metadata_is_skipped_like_any_other_kind(tmp_path):
    write(
        tmp_path,
        {
            "kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [ns.yaml]\n",
            "ns.yaml": NAMESPACE,
        },
    )
    objects, warnings = collect(tmp_path)
    assert [ns["metadata"]["name"] for ns in objects["Namespace"]] == ["shop"]
    assert warnings == ["skipped 1 Kustomization document"]


# --- The fast reader --------------------------------------------------------------------
# YAML texts of FAST_READER_MIN_CHARS or more are read by libfyaml when ``_unsure`` finds
# nothing the two readers may read differently; the guarded reader (PyYAML) reads the rest
# and reports every error. These tests pad small texts with a comment to reach the fast
# reader, and check its answers against the guarded reader's.


def padded(text: str) -> str:
    return text + "# " + "padding " * (manifests.FAST_READER_MIN_CHARS // 8) + "\n"


def fast(text: str, max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES) -> list | None:
    return manifests._fast_documents(text, max_alias_nodes)


def guarded(text: str, max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES) -> list:
    return manifests._guarded_documents(text, Path("test.yaml"), max_alias_nodes)


def same(a: object, b: object) -> bool:
    """Equal, with the same types (True is not 1) and the same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# YAML 1.1 as PyYAML reads it, where YAML 1.2 readers part from it.
YAML_11_TRAPS = """\
quoted: "yes"
bools:
- yes
- No
- on
- OFF
- y
octal: 010
octal-of-yaml-1.2: 0o10
hex: 0x1F
underscores: 1_000
pod-template-hash: 68795e63
leading-zero: 06714938
exponent-without-dot: 1e3
float: 1.5e+3
dot: .5
date: 2024-06-01
timestamp: 2001-12-14t21:59:43.10-05:00
nulls:
- ~
- null
-
infinity: -.inf
1: an int key
null: a null key
"""
YAML_11_EXPECTED = {
    "quoted": "yes",
    "bools": [True, False, True, False, "y"],
    "octal": 8,
    "octal-of-yaml-1.2": "0o10",
    "hex": 31,
    "underscores": 1000,
    "pod-template-hash": "68795e63",
    "leading-zero": "06714938",
    "exponent-without-dot": "1e3",
    "float": 1500.0,
    "dot": 0.5,
    "date": "2024-06-01",  # Kubernetes reads YAML as JSON: dates stay strings
    "timestamp": "2001-12-14t21:59:43.10-05:00",
    "nulls": [None, None, None],
    "infinity": -math.inf,
    1: "an int key",
    None: "a null key",
}


def test_the_fast_reader_reads_yaml_1_1_as_pyyaml_does():
    text = padded(YAML_11_TRAPS)
    documents = fast(text)
    assert documents is not None, manifests._unsure(text, DEFAULT_MAX_ALIAS_NODES)
    assert same(documents, [YAML_11_EXPECTED])
    assert same(documents, guarded(text))


def test_the_fast_reader_keeps_the_documents_of_a_stream_empty_ones_included():
    text = padded("---\n---\na: yes\n---\nb: 010\n")
    assert same(fast(text), [None, {"a": True}, {"b": 8}])
    assert same(fast(text), guarded(text))


def test_without_libfyaml_the_guarded_reader_gives_the_same(monkeypatch):
    monkeypatch.setattr(manifests, "_libfyaml", lambda: None)
    text = padded(YAML_11_TRAPS)
    assert fast(text) is None
    assert same(manifests.yaml_documents(text, Path("t.yaml"), 100), [YAML_11_EXPECTED])


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        pytest.param("a: 1:20\n", {"a": 80}, id="sexagesimal"),
        pytest.param("a: 190:20:30.15\n", {"a": 685230.15}, id="sexagesimal-float"),
        pytest.param("a: 18446744073709551616\n", {"a": 2**64}, id="past-64-bits"),
        pytest.param("a: -9223372036854775809\n", {"a": -(2**63) - 1}, id="libfyaml-clamps"),
        pytest.param("a: 0x10000000000000000\n", {"a": 2**64}, id="hex-past-64-bits"),
        pytest.param("a: 1.0e+309\n", {"a": math.inf}, id="past-a-double"),
        pytest.param("a: 1.0e-400\n", {"a": 0.0}, id="under-a-double"),
        pytest.param("a: !!str 12\n", {"a": "12"}, id="tag"),
        pytest.param(
            "b: &b\n  k: v\na:\n  <<: *b\n", {"b": {"k": "v"}, "a": {"k": "v"}}, id="merge"
        ),
        pytest.param("a: {b: [1, c]}\n", {"a": {"b": [1, "c"]}}, id="flow"),
        pytest.param("? a\n: 1\n", {"a": 1}, id="explicit-key"),
        pytest.param("a: |2\n   x\n", {"a": " x\n"}, id="indentation-indicator"),
        # libfyaml 1.0.0b2 resolves this alias to {"m": 1}, the last collection inside.
        pytest.param(
            "a: &x\n  k:\n    m: 1\nb: *x\n",
            {"a": {"k": {"m": 1}}, "b": {"k": {"m": 1}}},
            id="anchor-on-nested-collections",
        ),
    ],
)
def test_what_the_readers_may_read_differently_takes_the_guarded_reader(snippet, expected):
    text = padded(snippet)
    assert manifests._unsure(text, DEFAULT_MAX_ALIAS_NODES)
    assert fast(text) is None
    assert same(manifests.yaml_documents(text, Path("t.yaml"), 100), [expected])


@pytest.mark.parametrize(
    ("snippet", "fragment"),
    [
        pytest.param("- : x\n", "line 1, column 3", id="empty-key"),  # libfyaml takes it
        pytest.param("a:\nb\n", "line 3, column 1", id="scalar-at-the-key-indent"),
        pytest.param("a:\n\tb: 1\n", "line 2, column 1", id="tab"),
        pytest.param("a: 1\n...\nb: 2\n", "document 2: invalid YAML at line 3", id="bare-document"),
        pytest.param("a: &x 1\nb: &x 2\n", "duplicate anchor", id="anchor-twice"),
        pytest.param("a: 1\n---\nb: *x\n", "found undefined alias", id="undefined-alias"),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n namespace: shop\n",
            "line 5, column 2",
            id="indentation",
        ),
    ],
)
def test_errors_in_large_yaml_name_the_file_the_document_and_the_line(tmp_path, snippet, fragment):
    path = tmp_path / "big.yaml"
    path.write_text(padded(snippet))
    with pytest.raises(CollectionError) as info:
        manifests.yaml_documents(path.read_text(), path, DEFAULT_MAX_ALIAS_NODES)
    message = str(info.value)
    assert message.startswith(f"{path}, ") and "invalid YAML" in message
    assert fragment in message


def test_flat_anchors_as_pyyaml_writes_them_stay_on_the_fast_reader():
    text = padded(
        "rule:\n  except: &id001\n  - 10.0.0.0/8\n  - 'fd00::/8'\nother:\n"
        "  except: *id001\n  more: *id001\nlabels: &labels\n  app: web\n  tier: ''\n"
        "selector: *labels\n"
    )
    assert manifests._unsure(text, DEFAULT_MAX_ALIAS_NODES) is None
    [document] = fast(text)
    assert same([document], guarded(text))
    assert document["other"]["more"] == ["10.0.0.0/8", "fd00::/8"]
    assert document["selector"] == {"app": "web", "tier": ""}


def test_aliases_past_the_budget_are_refused_as_before(tmp_path):
    # A flat anchor of 1,000 items, aliased 200 times: 200,200 nodes.
    text = padded("a: &a\n" + "- x\n" * 1000 + "b:\n" + "- *a\n" * 200)
    assert manifests._unsure(text, DEFAULT_MAX_ALIAS_NODES) == "aliases over the budget"
    started = time.perf_counter()
    with pytest.raises(CollectionError, match="aliases repeat more than 100,000 nodes"):
        manifests.yaml_documents(text, tmp_path / "bomb.yaml", DEFAULT_MAX_ALIAS_NODES)
    assert time.perf_counter() - started < 2
    assert fast(text, max_alias_nodes=200_200) is not None  # within a larger budget


def test_a_large_billion_laughs_bomb_is_refused_quickly(tmp_path):
    write(tmp_path, {"bomb.yaml": padded(GOOD + BILLION_LAUGHS)})
    started = time.perf_counter()
    message = failure(tmp_path)
    assert time.perf_counter() - started < 2
    assert "bomb.yaml, document 2: refused YAML" in message
    assert "aliases repeat more than 100,000 nodes" in message


def test_a_large_kubectl_list_takes_the_fast_reader_and_reads_as_before(tmp_path, monkeypatch):
    from bench.synthetic import kubectl_list

    text = yaml.dump(
        kubectl_list(300, 10, 60), Dumper=yaml.SafeDumper, default_flow_style=False, sort_keys=False
    )
    assert len(text) > manifests.FAST_READER_MIN_CHARS and "*id001" in text  # a shared list
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    calls = []
    monkeypatch.setattr(manifests, "_fast_documents", spy(manifests._fast_documents, calls))
    objects, warnings = collect(path)
    assert calls and calls[0] is not None  # the fast reader answered
    assert {kind: len(objects[kind]) for kind in KINDS if objects[kind]} == {
        "Namespace": 10,
        "Pod": 300,
        "NetworkPolicy": 60,
    }
    monkeypatch.setattr(manifests, "_libfyaml", lambda: None)
    again, again_warnings = collect(path)
    assert all(again[kind] == objects[kind] for kind in KINDS) and again_warnings == warnings


def spy(function, calls: list):
    def spied(*args, **kwargs):
        calls.append(function(*args, **kwargs))
        return calls[-1]

    return spied


def test_garbage_collection_is_paused_only_while_reading(tmp_path, monkeypatch):
    seen = []
    real = manifests.unpack

    def unpack(data, where):
        seen.append(gc.isenabled())
        return real(data, where)

    monkeypatch.setattr(manifests, "unpack", unpack)
    write(tmp_path, {"ns.yaml": NAMESPACE, "z-bad.yaml": "kind: [\n"})
    assert gc.isenabled()
    with pytest.raises(CollectionError):
        collect(tmp_path)
    assert seen == [False] and gc.isenabled()


# --- JSON -------------------------------------------------------------------------------


def test_a_yaml_file_holding_json_takes_the_json_parser(tmp_path, monkeypatch):
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}},
        ],
    }
    write(tmp_path, {"cluster.yaml": "\n  " + json.dumps(listing, indent=4)})
    monkeypatch.setattr(manifests, "yaml_documents", None)  # not called
    objects, _ = collect(tmp_path)
    assert names(objects, "Namespace") == ["shop"] and names(objects, "Pod") == ["web"]
    # JSON's numbers, as in a .json file: 1e3 is a number (PyYAML's YAML 1.1: a string).
    assert manifests._json_text('{"a": 1e3}') == [{"a": 1000.0}]


def test_flow_yaml_that_starts_like_json_is_read_as_yaml(tmp_path):
    write(
        tmp_path,
        {
            "ns.yaml": "{apiVersion: v1, kind: Namespace, metadata: {name: shop}}\n"
            "---\n" + POD.format(name="web")
        },
    )
    objects, _ = collect(tmp_path)
    assert names(objects, "Namespace") == ["shop"] and names(objects, "Pod") == ["web"]


def test_json_files_have_a_cap_four_times_the_yaml_one(tmp_path):
    assert manifests.DEFAULT_MAX_JSON_BYTES == 4 * DEFAULT_MAX_FILE_BYTES
    allowed = tmp_path / "allowed" / "cluster.json"
    allowed.parent.mkdir()
    with allowed.open("wb") as file:
        file.write(b"[")
        file.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # over the YAML cap: NULs, not JSON
    assert "document 1: invalid JSON at line 1, column 2" in failure(allowed)
    refused = tmp_path / "refused" / "cluster.json"
    refused.parent.mkdir()
    with refused.open("wb") as file:
        file.truncate(manifests.DEFAULT_MAX_JSON_BYTES + 1)
    started = time.perf_counter()
    assert failure(refused) == (
        f"{refused}: 268,435,457 bytes is over the limit of 268,435,456 bytes per file"
    )
    assert time.perf_counter() - started < 1


def test_the_command_line_imports_no_reader_celery_or_django_to_start():
    code = (
        "import sys; from netpol import cli; cli.build_parser().format_help(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'yaml', 'libfyaml', 'celery', 'django'}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


# --- Parity, on random documents --------------------------------------------------------

TOKENS = [
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "~",
    "null",
    "true",
    "010",
    "0o17",
    "089",
    "1_000",
    "0x1F",
    "1:20",
    "1e3",
    "1.0e+3",
    ".5",
    "-.5",
    ".inf",
    "68795e63",
    "06714938",
    "2024-06-01",
    "12345678901234567890",
    "1.0e+309",
    "10.0.0.0/8",
    "fd00::1",
    "a:b",
    "http://x",
    "=",
    "<<",
    "-",
    "?",
    ":",
    "#",
    "&a",
    "*a",
    "!x",
    "|",
    ">",
    "'",
    '"',
    "{",
    "}",
    "[",
    "]",
    ",",
    "...",
    "\t",
    "é",
    "😀",
    "\\x41",
    "'it''s'",
    "@",
    "`",
    "%",
]
scalars = st.one_of(
    st.sampled_from(TOKENS),
    st.text(st.sampled_from(" -:?#&*!|>'\"%{}[],.0123456789abexyn_+~=<é"), max_size=12),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
keys = st.one_of(st.sampled_from(TOKENS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    value=values,
    shared=st.lists(st.sampled_from(TOKENS), max_size=3),
    width=st.sampled_from([20, 80]),
    cut=st.integers(0, 10_000),
    insert=st.sampled_from(["", *TOKENS, "\n", ": ", "- ", "  "]),
)
def test_the_fast_reader_gives_the_guarded_readers_answer_or_none(
    value, shared, width, cut, insert
):
    document = {"value": value, "shared": shared, "again": shared, "nested": {"more": shared}}
    text = yaml.dump(document, Dumper=yaml.SafeDumper, default_flow_style=False, width=width)
    cut %= len(text) + 1
    text = text[:cut] + insert + text[cut:]  # sometimes a typo
    answer = fast(text)
    if answer is None:
        return
    try:
        expected = guarded(text)
    except CollectionError as exc:
        pytest.fail(f"the fast reader read what PyYAML refuses ({exc}): {text!r}")
    assert same(answer, expected), text


def test_a_float_with_a_leading_zero_reads_as_pyyaml_reads_it(tmp_path):
    """libfyaml reads "-067149380.0" as a string, PyYAML as a float: the scan sends such
    text to the guarded reader (found by the property test above)."""
    import yaml as pyyaml

    from netpol.collect.manifests import FAST_READER_MIN_CHARS, yaml_documents

    text = "items:\n" + "- {}\n".replace("{}", "v: -067149380.0") * (FAST_READER_MIN_CHARS // 10)
    assert len(text) >= FAST_READER_MIN_CHARS
    assert yaml_documents(text, tmp_path / "x.yaml", 100_000) == [pyyaml.safe_load(text)]
    assert pyyaml.safe_load(text)["items"][0]["v"] == -67149380.0


# --- Calico and Cilium (issue 13) -------------------------------------------------------

CALICO_FIXTURE = Path(__file__).parent / "fixtures" / "cli" / "calico.yaml"


def test_calico_kinds_are_read_from_both_groups_under_one_kind_each(tmp_path):
    objects, warnings = collect(CALICO_FIXTURE)
    assert warnings == []
    assert names(objects, "NetworkPolicy") == ["web-from-monitoring"]  # Kubernetes' own
    calico = {
        o["metadata"]["name"]: o["apiVersion"] for o in objects["projectcalico.org/NetworkPolicy"]
    }
    assert calico == {
        "allow-web-to-db": "projectcalico.org/v3",
        "default.prom-egress": "crd.projectcalico.org/v1",
    }
    assert names(objects, "projectcalico.org/Tier") == ["security"]
    assert names(objects, "projectcalico.org/GlobalNetworkPolicy") == ["security.deny-batch-to-db"]
    assert names(objects, "projectcalico.org/GlobalNetworkSet") == ["blocked"]
    assert names(objects, "projectcalico.org/StagedGlobalNetworkPolicy") == [
        "default.deny-everything"
    ]
    assert names(objects, "ServiceAccount") == ["web"]
    records = {k: [normalize(k, o) for o in objs] for k, objs in objects.items()}
    [web] = [p for p in records["Pod"] if p.name == "web-0"]
    assert web.service_account == "web" and web.to_api()["spec"]["serviceAccountName"] == "web"
    [network_set] = records["projectcalico.org/GlobalNetworkSet"]
    assert (network_set.namespace, network_set.labels) == ("", {"threat": "yes"})
    assert network_set.to_api()["spec"] == {"nets": ["198.51.100.0/24"]}


def test_a_namespaced_calico_object_needs_its_namespace_declared_or_it_is_added(tmp_path):
    write(
        tmp_path,
        {
            "sets.yaml": "apiVersion: projectcalico.org/v3\nkind: NetworkSet\n"
            "metadata: {name: partners, namespace: shop}\nspec: {nets: [192.0.2.0/24]}\n"
        },
    )
    objects, warnings = collect(tmp_path)
    assert names(objects, "projectcalico.org/NetworkSet") == ["partners"]
    assert names(objects, "Namespace") == ["shop"]
    assert warnings == [
        "namespace shop used but not declared; added with only the kubernetes.io/metadata.name label"
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            "apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\n"
            "metadata: {name: Bad_Name}\nspec: {}\n",
            "GlobalNetworkPolicy metadata.name: ",
        ),
        (
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
            "metadata: {name: p, namespace: shop}\nspec: [1]\n",
            "NetworkPolicy shop/p: spec is not a mapping",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n"
            "spec: {serviceAccountName: 7}\n",
            "Pod shop/p: spec.serviceAccountName is not a string",
        ),
    ],
)
def test_a_bad_calico_object_is_named_with_file_document_and_field(tmp_path, document, message):
    write(tmp_path, {"bad.yaml": document})
    got = failure(tmp_path)
    assert "bad.yaml, document 1" in got and message in got, got


def test_the_loaded_model_keeps_staged_policies_network_sets_and_service_accounts():
    from netpol.load import load_paths

    warnings = []
    model = load_paths([CALICO_FIXTURE], warn=warnings.append)
    assert warnings == []
    assert [p["metadata"]["name"] for p in model.staged_policies] == ["default.deny-everything"]
    assert [s["metadata"]["name"] for s in model.calico_network_sets] == ["blocked"]
    assert [
        (a["metadata"]["namespace"], a["metadata"]["name"]) for a in model.service_accounts
    ] == [("shop", "web")]
    assert {p.key for p in model.calico_policies} == {
        "calico/shop/allow-web-to-db",
        "calico/monitoring/prom-egress",
        "gnp/deny-batch-to-db",
    }
