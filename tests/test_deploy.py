"""docker-compose.yml, the quick start and the RBAC manifests stay in step."""

from pathlib import Path

import yaml

from auditor.management.commands.runall import stack_commands

ROOT = Path(__file__).resolve().parent.parent


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_same_commands_as_the_quick_start():
    services = load_compose()["services"]
    local = stack_commands("0.0.0.0:8000")
    for name in ("web", "worker", "beat"):
        compose_command = services[name]["command"]
        quick_start = [Path(local[name][0]).name, *local[name][1:]]
        assert compose_command == quick_start, name


def test_compose_has_the_production_stack():
    compose = load_compose()
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(services)
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
        assert services[name]["image"] == "netpol-auditor:latest"
    assert services["db"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")


def test_rbac_grants_read_only_access_to_what_snapshots_list():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    kinds = {doc["kind"] for doc in docs}
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    [role] = [doc for doc in docs if doc["kind"] == "ClusterRole"]
    granted = {(group, resource): set(rule["verbs"]) for rule in role["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    for key in [("", "namespaces"), ("", "pods"), ("", "nodes"), ("networking.k8s.io", "networkpolicies")]:
        assert granted[key] == {"get", "list", "watch"}
    assert all(verbs <= {"get", "list", "watch"} for verbs in granted.values())
    [binding] = [doc for doc in docs if doc["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make run" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")
