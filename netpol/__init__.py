"""Netpol's Django-free core: collectors, the policy engine, findings, diff, graph, what-if, CLI.

The front door::

    import netpol
    model = netpol.load_paths(["cluster/"], declared_cidrs=["10.0.0.0/8"], warn=print)
    model = netpol.load_objects([("Pod", pod), ("NetworkPolicy", policy)])
    report = netpol.audit(model)
    netpol.diff_audits(old_model, old_report, model, report)
    netpol.reach(model, "shop/web-1", "shop/db-0", 5432).to_dict()

Names are imported on first use, so ``netaudit --help`` loads neither the engine nor YAML.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from .diff import diff_audits
    from .engine import ClusterModel, InputError
    from .findings import audit
    from .load import load_objects, load_paths

_HOMES = {
    "load_paths": "netpol.load",
    "load_objects": "netpol.load",
    "audit": "netpol.findings",
    "diff_audits": "netpol.diff",
    "ClusterModel": "netpol.engine",
    "InputError": "netpol.engine",
}

__all__ = [  # noqa: F822 (served by __getattr__)
    "ClusterModel",
    "InputError",
    "audit",
    "diff_audits",
    "load_objects",
    "load_paths",
    "reach",
]


def reach(model: ClusterModel, src, dst, port: int, protocol: str = "TCP"):
    """May ``src`` open a connection to ``dst`` on port/protocol, and why (a ``Verdict``).
    Ends are pods ("namespace/name") or IP addresses; raises ``InputError`` on bad input."""
    return model.reach(src, dst, port, protocol)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'netpol' has no attribute {name!r}")
