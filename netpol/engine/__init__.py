"""The policy engine: exact NetworkPolicy semantics on plain data, no Django.

Entry point: ``ClusterModel.from_objects(...)`` (see ``cluster.py``). Modules:

* ``model``      parsing raw API objects, validation errors (``PolicyError``)
* ``selectors``  label selectors, per object and as bitsets over a population
* ``ports``      port entries, named ports, port sets over TCP/UDP/SCTP
* ``ipsets``     IPv4/IPv6 interval sets (ipBlock with except)
* ``classes``    pod equivalence classes
* ``evaluate``   the fast class/bitset evaluation
* ``reference``  a plain per-pod evaluation the property tests compare against
* ``explain``    ``reach`` verdicts with the deciding policies and rules
* ``allowed``    the compact allowed set, graph edges, the matrix
* ``exposure``   external CIDRs per pod and port
"""

from .allowed import AllowedConnections
from .cluster import ClusterModel, PodIsolation
from .explain import Verdict
from .exposure import ExternalExposure
from .model import InputError, PolicyError

__all__ = [
    "AllowedConnections",
    "ClusterModel",
    "ExternalExposure",
    "InputError",
    "PodIsolation",
    "PolicyError",
    "Verdict",
]
