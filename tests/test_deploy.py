"""docker-compose.yml, the quick start and the RBAC manifests stay in step."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from auditor.management.commands.runall import stack_commands
from netpol.collect.kinds import KIND_TABLE

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
    for info in KIND_TABLE.values():  # every kind a snapshot lists, in each group serving it
        for group, _version in info.versions:
            assert granted[(group, info.plural)] == {"get", "list", "watch"}
    assert all(verbs <= {"get", "list", "watch"} for verbs in granted.values())
    [binding] = [doc for doc in docs if doc["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make run" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")


# --- The in-cluster install (deploy/install/) -------------------------------------------

INSTALL = ROOT / "deploy" / "install"
# The oldest Kubernetes minor the install supports and the newest kubernetes-validate
# (pinned in constraints.txt) ships schemas for.
KUBERNETES_VERSIONS = ("1.30", "1.37")
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"
READ_ONLY_VERBS = {"get", "list", "watch"}


def deploy_documents() -> list[tuple[str, dict]]:
    """``(file:document, object)`` for every document under deploy/, as netaudit reads them."""
    out = []
    for path in sorted((ROOT / "deploy").rglob("*.y*ml")):
        for number, doc in enumerate(yaml.safe_load_all(path.read_text()), start=1):
            if doc:
                out.append((f"{path.relative_to(ROOT)}:{number}", doc))
    return out


def kubernetes_objects() -> list[tuple[str, dict]]:
    return [(where, doc) for where, doc in deploy_documents()
            if not doc["apiVersion"].startswith(KUSTOMIZE_GROUP)]


def install_objects(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for where, doc in kubernetes_objects()
            if where.startswith("deploy/install/") and doc["kind"] == kind}


def pod_specs() -> dict[str, dict]:
    workloads = {**install_objects("Deployment"), **install_objects("StatefulSet")}
    return {name: doc["spec"]["template"]["spec"] for name, doc in workloads.items()}


def containers(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_every_manifest_validates_against_the_kubernetes_schemas():
    import kubernetes_validate

    objects = kubernetes_objects()
    assert len(objects) >= 20
    problems = []
    for where, doc in objects:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
                problems.append(f"{where} ({doc['kind']}) on {version}: {exc}")
    assert problems == []


def test_the_schema_validation_catches_a_misspelt_field():
    """Strict validation is no formality: a typo in a pod spec fails it."""
    import kubernetes_validate

    web = install_objects("Deployment")["web"]
    broken = yaml.safe_load(yaml.safe_dump(web))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"port": 8000}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomizations_list_every_install_file():
    """kubectl apply -k deploy/install applies every manifest but the Secrets' example."""
    listed = set()
    for where, doc in deploy_documents():
        if doc["apiVersion"].startswith(KUSTOMIZE_GROUP):
            base = ROOT / where.rpartition(":")[0]
            for entry in [*doc.get("resources", []), *doc.get("components", [])]:
                target = (base.parent / entry).resolve()
                assert target.exists(), f"{where}: {entry} does not exist"
                listed.add(target)
    manifests = {path.resolve() for path in INSTALL.rglob("*.yaml") if path.name != "kustomization.yaml"}
    assert manifests - listed == {(INSTALL / "secrets.example.yaml").resolve()}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_install():
    result = subprocess.run(["kubectl", "kustomize", str(INSTALL)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert {doc["metadata"].get("namespace") for doc in built} == {"netpol-auditor"}
    kinds = sorted(doc["kind"] for doc in built)
    assert kinds.count("Deployment") == 4 and kinds.count("StatefulSet") == 1 and "Secret" not in kinds
    assert kinds.count("NetworkPolicy") == 7


def test_netaudit_reports_no_high_or_critical_finding_on_deploy(capsys):
    from netpol.cli import main

    code = main(["audit", str(ROOT / "deploy"), "--format", "json", "--fail-on", "high"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    findings = [(f["rule"], f["severity"], f["message"]) for f in report["findings"]]
    assert [f for f in findings if f[1] in ("high", "critical")] == []
    assert code == 0, err
    # What remains, and why it is accepted: the DNS pods and the ingress controller live in
    # namespaces that deploy/ does not hold (a snapshot of the live cluster sees them), and
    # manifests name no network plugin.
    for rule, severity, message in findings:
        if rule == "NP030":
            assert "kube-system" in message or "ingress-nginx" in message, message
        else:
            assert (rule, severity) == ("NP039", "info"), message
    coverage = report["coverage"]["namespaces"]["netpol-auditor"]
    assert coverage["pods"] == 5
    assert coverage["ingress"]["pod_ratio"] == coverage["egress"]["pod_ratio"] == 1.0
    assert coverage["default_deny"] == {"ingress": ["default-deny-all"], "egress": ["default-deny-all"]}


@pytest.mark.parametrize(("src", "dst", "port", "allowed"), [
    ("web", "postgres", 5432, True),
    ("worker", "postgres", 5432, True),
    ("beat", "postgres", 5432, True),
    ("web", "redis", 6379, True),
    ("worker", "redis", 6379, True),
    ("beat", "redis", 6379, True),
    ("worker", "192.0.2.1", 6443, True),  # the API server (apiserver-egress.yaml)
    ("worker", "192.0.2.1", 443, True),
    ("web", "192.0.2.1", 6443, False),
    ("beat", "192.0.2.1", 6443, False),
    ("worker", "169.254.169.254", 80, False),  # the cloud metadata endpoint
    ("worker", "203.0.113.7", 443, False),  # the internet
    ("redis", "postgres", 5432, False),
    ("postgres", "redis", 6379, False),
    ("web", "worker", 8000, False),
    ("worker", "web", 8000, False),
    ("203.0.113.7", "web", 8000, False),  # only the ingress controller reaches web
    ("web", "postgres", 6379, False),
])
def test_the_install_allows_only_what_each_process_needs(src, dst, port, allowed):
    import netpol

    model = netpol.load_paths([str(ROOT / "deploy")])

    def end(name):
        return name if name[0].isdigit() else f"netpol-auditor/{name}-0"

    assert netpol.reach(model, end(src), end(dst), port).allowed is allowed


def test_install_runs_the_same_commands_as_the_quick_start():
    local = stack_commands("0.0.0.0:8000")
    specs = pod_specs()
    for name in ("web", "worker", "beat"):
        [container] = specs[name]["containers"]
        assert container["command"] == [Path(local[name][0]).name, *local[name][1:]], name
        assert container["image"] == "netpol-auditor"
    [migrate] = specs["web"]["initContainers"]
    assert migrate["command"] == load_compose()["services"]["migrate"]["command"]


def test_install_runs_locked_down_under_the_read_only_service_account():
    [account] = [doc for where, doc in deploy_documents() if doc["kind"] == "ServiceAccount"]
    specs = pod_specs()
    assert set(specs) == {"web", "worker", "beat", "postgres", "redis"}
    for name in ("web", "worker", "beat"):
        assert specs[name]["serviceAccountName"] == account["metadata"]["name"], name
    # Only the worker talks to the API server, so only it gets the token.
    assert {name for name, spec in specs.items() if spec.get("automountServiceAccountToken", True)} == {"worker"}
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for container in containers(spec):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where
        for container in spec["containers"]:
            assert "livenessProbe" in container, f"{name}/{container['name']}"
    web = specs["web"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"]["path"] == "/accounts/login/" and web[probe]["httpGet"]["port"] == 8000
    for name in ("worker", "beat"):
        assert specs[name]["containers"][0]["livenessProbe"]["exec"]["command"] == [
            "python", "manage.py", "healthcheck", name]
    [claim] = install_objects("StatefulSet")["postgres"]["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    assert install_objects("Deployment")["beat"]["spec"]["strategy"] == {"type": "Recreate"}


def test_install_reads_its_secrets_from_secret_files_only():
    [config] = install_objects("ConfigMap").values()
    secret_names = ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL")
    example = install_objects("Secret")
    for name in secret_names:
        assert name not in config["data"]
        directory, _, key = config["data"][f"{name}_FILE"].rpartition("/")
        assert key in example["netpol-auditor"]["stringData"], name
        for app in ("web", "worker", "beat"):
            spec = pod_specs()[app]
            [volume] = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "netpol-auditor"]
            for container in containers(spec):
                mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
                assert mounts[volume["name"]] == directory, f"{app}/{container['name']}"
    # No container carries a literal secret in its environment; the example holds placeholders.
    for name, spec in pod_specs().items():
        for container in containers(spec):
            for variable in container.get("env", []):
                if "value" in variable and not variable["name"].endswith("_FILE"):
                    assert not re.search("PASSWORD|SECRET|AUTH|KEY|URL", variable["name"]), f"{name}: {variable}"
    for secret in example.values():
        for key, value in secret["stringData"].items():
            assert "REPLACE-WITH" in value, key


def test_every_role_under_deploy_is_read_only():
    roles = [doc for where, doc in deploy_documents() if doc["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_ONLY_VERBS, (role["metadata"]["name"], rule)
            assert "*" not in rule["resources"] and "secrets" not in rule["resources"], rule
    names = {role["metadata"]["name"] for role in roles}
    for binding in [doc for where, doc in deploy_documents() if doc["kind"] in ("RoleBinding", "ClusterRoleBinding")]:
        assert binding["roleRef"]["name"] in names, binding["metadata"]["name"]


def test_the_image_holds_every_package_it_installs():
    """The Dockerfile copies each top-level package pyproject.toml installs (an image
    without config/ or netpol/ builds, then fails at its first import)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile, package
