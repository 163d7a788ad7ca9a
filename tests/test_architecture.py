"""The import rules of docs/architecture.md, checked on the source.

Every ``import`` and ``from … import`` is read from the syntax tree, at module level and
inside functions alike (a lazy import is still a dependency), so a rule cannot be
dodged by moving an import into a function.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("netpol", "config", "auditor", "webui")
# The one circle allowed: a service enqueues its task, the task calls the service.
ALLOWED_CIRCLES = [
    {"auditor.services", "auditor.tasks"},
    {"auditor.reports.services", "auditor.reports.tasks"},
    {"auditor.whatif.services", "auditor.whatif.tasks"},
    {"auditor.replay.services", "auditor.replay.tasks"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names of every module (or module attribute) ``name`` imports."""
    is_package = path.name == "__init__.py"
    result = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            result.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            result.add(prefix)
            result.update(f"{prefix}.{alias.name}" for alias in node.names)
    return result


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _local_targets(name: str) -> set[str]:
    """The project modules ``name`` imports (an imported function counts as its module)."""
    targets = set()
    for imported in IMPORTS[name]:
        while imported and imported not in MODULES:
            imported = imported.rpartition(".")[0]
        if imported and imported != name and not name.startswith(imported + "."):
            targets.add(imported)
    return targets


def _offenders(importers, forbidden) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name in MODULES
        if importers(name)
        for target in IMPORTS[name]
        if forbidden(name, target)
    )


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_core_imports_no_django_celery_or_app():
    assert not _offenders(
        lambda n: _under(n, "netpol"),
        lambda n, t: _under(t, "django", "celery", "kombu", "auditor", "config", "webui"),
    )


def test_the_engine_needs_nothing_of_the_core_but_its_utilities():
    assert not _offenders(
        lambda n: _under(n, "netpol.engine"),
        lambda n, t: _under(t, "netpol") and not _under(t, "netpol.engine", "netpol.bits", "netpol.cache"),
    )


def test_config_and_the_app_never_import_pages():
    assert not _offenders(lambda n: _under(n, "auditor", "config.celery", "config.settings"), lambda n, t: _under(t, "webui"))


def test_selectors_never_import_services():
    assert not _offenders(
        lambda n: n.endswith(".selectors") or ".selectors." in n,
        lambda n, t: _under(t, "auditor.services", "auditor.tasks", "auditor.reports.services", "auditor.reports.tasks"),
    )


def test_the_snapshot_pipeline_does_not_know_reports():
    assert not _offenders(
        lambda n: n in ("auditor.services", "auditor.tasks", "auditor.storage"),
        lambda n, t: _under(t, "auditor.reports"),
    )


def test_only_the_engine_opens_its_internals():
    """Outside ``netpol.engine`` its front door is the only way in."""
    assert not _offenders(
        lambda n: not _under(n, "netpol.engine"),
        lambda n, t: _under(t, "netpol.engine") and t.split(".")[2:3] != []
        and f"netpol.engine.{t.split('.')[2]}" in MODULES,
    )


def _circles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {name: _local_targets(name) for name in MODULES}
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(component)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return result


def test_no_import_circle_but_the_lazy_enqueue():
    assert [c for c in _circles() if c not in ALLOWED_CIRCLES] == []


@pytest.mark.parametrize(
    "rule, importer, imported",
    [
        (test_the_core_imports_no_django_celery_or_app, "netpol.cli", "django.conf"),
        (test_selectors_never_import_services, "auditor.selectors", "auditor.services"),
        (test_the_engine_needs_nothing_of_the_core_but_its_utilities, "netpol.engine.cluster", "netpol.findings"),
        (test_only_the_engine_opens_its_internals, "netpol.graph.flows", "netpol.engine.evaluate"),
        (test_no_import_circle_but_the_lazy_enqueue, "auditor.storage", "auditor.services"),
    ],
)
def test_the_rules_see_a_violation(rule, importer, imported, monkeypatch):
    """A rule that could never fail would assert nothing: plant a violation and watch."""
    planted = dict(IMPORTS)
    planted[importer] = IMPORTS[importer] | {imported}
    monkeypatch.setattr(sys.modules[__name__], "IMPORTS", planted)
    with pytest.raises(AssertionError):
        rule()
