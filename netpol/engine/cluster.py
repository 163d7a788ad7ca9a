"""``ClusterModel``: the engine's front door. Raw API objects in, answers out.

Example::

    model = ClusterModel.from_objects(namespaces=ns, pods=pods, nodes=nodes, policies=pols)
    model.errors                       # [PolicyError], invalid policy content
    model.isolation()                  # [PodIsolation], one per pod
    model.pod_isolation(pod)           # the same for one pod; is_isolated(pod, "egress")
    model.policies_selecting(pod)      # [Policy] whose podSelector selects it
    model.reach("shop/web-1", "shop/db-0", 5432, "TCP").to_dict()
    model.allowed_connections().edges("namespace")
    model.matrix(port=80)              # {"pods": [...], "matrix": [[bool]]}
    model.external_exposure().to_dict()

Answers are computed lazily and cached; the model is immutable once built, so callers
keep what they derive from it with ``model.derived(key, build)``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from netpol.bits import bit_positions

from .allowed import AllowedConnections
from .calico import (
    CalicoPolicy,
    CalicoTier,
    parse_calico_policy,
    parse_network_set,
    parse_tier,
    service_account_labels,
)
from .cilium import CiliumPolicy, parse_cilium_policy
from .evaluate import EGRESS, INGRESS, Evaluation
from .explain import Endpoint, Verdict, reach
from .exposure import ExternalExposure
from .gcpause import gc_paused
from .incremental import with_policies
from .ipsets import IPSet, ip_to_int
from .model import (
    ACTIVE,
    HOST_NETWORK,
    InputError,
    Namespace,
    Node,
    Pod,
    Policy,
    PolicyError,
    Service,
    parse_namespace,
    parse_node,
    parse_pod,
    parse_policy,
    parse_service,
)
from .ports import PROTOCOLS
from .ranges import DECLARED, INFERRED, NODES, NONE, DeclaredCidrs, infer_pod_cidrs
from .selectors import LabelIndex, Selector
from .tiers import ClusterPolicy, parse_cluster_policy

T = TypeVar("T")

UNDEFINED_CATEGORY = "policy behaviour undefined"
NO_TRAFFIC_CATEGORY = "no traffic"
# Every isolation category, protected first, then the gaps.
CATEGORIES = (
    "isolated",
    "ingress isolated",
    "egress isolated",
    "not isolated",
    UNDEFINED_CATEGORY,
    NO_TRAFFIC_CATEGORY,
)


def isolation_category(ingress: bool, egress: bool) -> str:
    """The category of an active pod isolated (or not) for ingress and for egress."""
    return {
        (True, True): "isolated",
        (True, False): "ingress isolated",
        (False, True): "egress isolated",
        (False, False): "not isolated",
    }[ingress, egress]


@dataclass(slots=True)
class PodIsolation:
    """Answer 1 for one pod. Isolation is None for pods outside enforcement."""

    pod: str
    state: str  # "active", "host-network" or "inactive"
    category: str  # "isolated", "ingress isolated", "egress isolated", "not isolated",
    #                "policy behaviour undefined" (hostNetwork) or "no traffic"
    ingress_isolated: bool | None
    egress_isolated: bool | None
    policies: list[str]  # every policy whose podSelector selects the pod
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "pod": self.pod,
            "state": self.state,
            "category": self.category,
            "ingress_isolated": self.ingress_isolated,
            "egress_isolated": self.egress_isolated,
            "policies": self.policies,
            "reason": self.reason,
        }


class ClusterModel:
    def __init__(
        self,
        namespaces: list[Namespace],
        pods: list[Pod],
        nodes: list[Node],
        policies: list[Policy],
        services: list[Service] = (),
        errors: list[PolicyError] = (),
        declared_cidrs: DeclaredCidrs | dict | list[str] = (),
        cluster_policies: list[ClusterPolicy] = (),
        cilium_policies: list[CiliumPolicy] = (),
        calico_policies: list[CalicoPolicy] = (),
        calico_tiers: list[CalicoTier] = (),
        calico_network_sets: list[dict] = (),
        service_accounts: list[dict] = (),
        staged_policies: list[dict] = (),
        unenforced: list[dict] = (),
        enforcement: dict | None = None,
    ):
        self.namespaces = {ns.name: ns for ns in namespaces}
        # Pods and policies may name namespaces absent from the input; the API server
        # labels every namespace with its name, so an implicit one carries that label.
        for name in sorted({p.namespace for p in pods} | {p.namespace for p in policies}):
            if name not in self.namespaces:
                self.namespaces[name] = parse_namespace({"metadata": {"name": name}})
        self.pods = pods
        self.pods_by_key = {p.key: p for p in pods}
        self.nodes = nodes
        self.policies = policies
        for i, policy in enumerate(policies):
            policy.id = i
        self.services = list(services)
        # Admin and Baseline tiers (tiers.py), in precedence order once evaluated.
        self.cluster_policies = list(cluster_policies)
        # Cilium policies, in the NetworkPolicy tier (cilium.py).
        self.cilium_policies = list(cilium_policies)
        # Calico's tiers, the NetworkPolicies in the default one (calico.py).
        self.calico_policies = list(calico_policies)
        self.calico_tiers = list(calico_tiers)
        # As given (API-shaped dicts): Calico's NetworkSets and GlobalNetworkSets and the
        # ServiceAccounts (name, namespace, labels) that calico.py reads for selectors;
        # Calico's Staged* policies, what-if input that is never enforced.
        self.calico_network_sets = list(calico_network_sets)
        self.service_accounts = list(service_accounts)
        self.staged_policies = list(staged_policies)
        # Objects of kinds the cluster's network plugin does not enforce (API-shaped, as
        # given), shown but never evaluated, and what decided it (netpol/enforcement.py;
        # {} when every kind given is applied).
        self.unenforced = list(unenforced)
        self.enforcement = dict(enforcement or {})
        self.errors = list(errors)
        self.declared = DeclaredCidrs.of(declared_cidrs)
        self.declared_cidrs = self.declared.all()
        self._derived: dict[Hashable, object] = {}
        self._derived_lock = threading.Lock()

    @classmethod
    def from_objects(
        cls,
        namespaces=(),
        pods=(),
        nodes=(),
        policies=(),
        services=(),
        *,
        declared_cidrs=(),
        cluster_policies=(),
        cilium_policies=(),
        calico_policies=(),
        service_accounts=(),
        staged_policies=(),
    ) -> ClusterModel:
        """Build from raw API-shaped dicts (or collection records with ``to_api()``).

        ``declared_cidrs``: the cluster's CIDRs when known, as ``{"pod": [...], "service":
        [...], "node": [...]}`` (or a flat list of pod and service CIDRs); they are added
        to what nodes, services and pods show when deciding what is external. Raises
        ``InputError`` for objects that cannot be read at all; problems inside policies
        are collected in ``model.errors`` instead.

        ``cluster_policies``: ClusterNetworkPolicies, AdminNetworkPolicies and
        BaselineAdminNetworkPolicies (told apart by ``kind``), the tiers around the
        NetworkPolicies (``tiers.py``).

        ``cilium_policies``: CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies
        (``cilium.py``), evaluated with the NetworkPolicies.

        ``calico_policies``: Calico NetworkPolicies, GlobalNetworkPolicies and Tiers
        (``calico.py``); the NetworkPolicies then sit in Calico's default tier. Calico's
        NetworkSets and GlobalNetworkSets may come with them (told apart by ``kind``);
        they are kept on the model as ``calico_network_sets`` for calico.py, whose
        selectors match their labels.

        ``service_accounts``: ServiceAccount objects (name, namespace, labels), kept as
        ``service_accounts``; calico.py reads them for ``serviceAccountSelector``.

        ``staged_policies``: Calico's StagedNetworkPolicies, StagedGlobalNetworkPolicies
        and StagedKubernetesNetworkPolicies, kept as ``staged_policies`` for what-if and
        never enforced.
        """
        with gc_paused():
            return cls._from_objects(
                namespaces,
                pods,
                nodes,
                policies,
                services,
                declared_cidrs,
                cluster_policies,
                cilium_policies,
                calico_policies,
                service_accounts,
                staged_policies,
            )

    @classmethod
    def _from_objects(
        cls,
        namespaces,
        pods,
        nodes,
        policies,
        services,
        declared_cidrs,
        cluster_policies=(),
        cilium_policies=(),
        calico_policies=(),
        service_accounts=(),
        staged_policies=(),
    ):
        parsed_pods = [_parse(parse_pod, o, "Pod") for o in pods]
        _unique((p.key for p in parsed_pods), "Pod")
        parsed_policies, errors = [], []
        for obj in policies:
            policy, problems = _parse(parse_policy, obj, "NetworkPolicy")
            errors.extend(problems)
            if policy is not None:
                parsed_policies.append(policy)
        _unique((p.key for p in parsed_policies), "NetworkPolicy")
        parsed_cluster = []
        for obj in cluster_policies:
            obj = obj.to_api() if hasattr(obj, "to_api") else obj
            kind = obj.get("kind", "ClusterNetworkPolicy") if isinstance(obj, dict) else "?"
            policy, problems = _parse(
                lambda o: parse_cluster_policy(o, PolicyError), obj, kind or "ClusterNetworkPolicy"
            )
            errors.extend(problems)
            if policy is not None:
                parsed_cluster.append(policy)
        _unique((p.key for p in parsed_cluster), "cluster policy")
        parsed_cilium = []
        for obj in cilium_policies:
            obj = obj.to_api() if hasattr(obj, "to_api") else obj
            kind = obj.get("kind", "CiliumNetworkPolicy") if isinstance(obj, dict) else "?"
            found, problems = _parse(
                lambda o: parse_cilium_policy(o, PolicyError), obj, kind or "CiliumNetworkPolicy"
            )
            errors.extend(problems)
            parsed_cilium.extend(found)
        _unique((p.key for p in parsed_cilium), "Cilium policy")
        parsed_calico, calico_tiers, network_sets = [], [], []
        for obj in calico_policies:
            obj = obj.to_api() if hasattr(obj, "to_api") else obj
            kind = obj.get("kind", "?") if isinstance(obj, dict) else "?"
            if kind in ("NetworkSet", "GlobalNetworkSet"):
                # Kept as given; parsed here for its problems, and again when evaluated.
                _, problems = _parse(lambda o: parse_network_set(o, PolicyError), obj, kind)
                errors.extend(problems)
                network_sets.append(obj)
                continue
            if kind == "Tier":
                tier, problems = _parse(lambda o: parse_tier(o, PolicyError), obj, kind)
                calico_tiers.append(tier)
            else:
                policy, problems = _parse(lambda o: parse_calico_policy(o, PolicyError), obj, kind)
                if policy is not None:
                    parsed_calico.append(policy)
            errors.extend(problems)
        _unique((p.key for p in parsed_calico), "Calico policy")
        declared = DeclaredCidrs.of(declared_cidrs)
        return cls(
            namespaces=[_parse(parse_namespace, o, "Namespace") for o in namespaces],
            pods=parsed_pods,
            nodes=[_parse(parse_node, o, "Node") for o in nodes],
            policies=parsed_policies,
            services=[_parse(parse_service, o, "Service") for o in services],
            errors=errors,
            declared_cidrs=declared,
            cluster_policies=parsed_cluster,
            cilium_policies=parsed_cilium,
            calico_policies=parsed_calico,
            calico_tiers=calico_tiers,
            calico_network_sets=network_sets,
            service_accounts=[o.to_api() if hasattr(o, "to_api") else o for o in service_accounts],
            staged_policies=[o.to_api() if hasattr(o, "to_api") else o for o in staged_policies],
        )

    def __getstate__(self) -> dict:
        """Pickled with what is computed (evaluation, allowed set, exposure), so a model
        stored with its snapshot loads in a fraction of its build time; what callers
        derived is left out (it may hold anything)."""
        state = dict(self.__dict__)
        state.pop("_derived_lock")
        state["_derived"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._derived_lock = threading.Lock()

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()`` once per key for this model, kept as long as the model: indexes,
        flows, what-if facts (the model is immutable, so they never go stale). Thread-safe;
        the build runs outside the lock, so two first callers may both build and the first
        one stored is kept and returned to both."""
        with self._derived_lock:
            if key in self._derived:
                return self._derived[key]  # type: ignore[return-value]
        value = build()
        with self._derived_lock:
            return self._derived.setdefault(key, value)  # type: ignore[return-value]

    def copy_with(
        self,
        *,
        policies: list[Policy],
        errors: list[PolicyError],
        calico_policies: list[CalicoPolicy] | None = None,
    ) -> ClusterModel:
        """A new model of this one's objects, every kind kept, with its NetworkPolicies
        and their problems replaced (the policies must be copies: a model numbers them),
        and its Calico policies too when ``calico_policies`` is given."""
        if calico_policies is None:
            calico_policies = getattr(self, "calico_policies", ())
        return type(self)(
            namespaces=list(self.namespaces.values()),
            pods=self.pods,
            nodes=self.nodes,
            policies=policies,
            services=self.services,
            errors=errors,
            declared_cidrs=self.declared,
            cluster_policies=self.cluster_policies,
            cilium_policies=getattr(self, "cilium_policies", ()),
            calico_policies=calico_policies,
            calico_tiers=getattr(self, "calico_tiers", ()),
            calico_network_sets=getattr(self, "calico_network_sets", ()),
            service_accounts=getattr(self, "service_accounts", ()),
            staged_policies=getattr(self, "staged_policies", ()),
            unenforced=getattr(self, "unenforced", ()),
            enforcement=getattr(self, "enforcement", None),
        )

    def with_calico_policies(
        self, *, add: list[dict] = (), remove=()
    ) -> tuple[ClusterModel, list[str]]:
        """This model with the Calico NetworkPolicies and GlobalNetworkPolicies ``add``
        (API dicts; one of the same key replaces) and without those keyed in ``remove``
        (``calico/ns/name``, ``gnp/name``), evaluated in full; and the keys of ``add`` in
        order. What-if's Calico input (staged policies); ``InputError`` as from_objects."""
        parsed, problems_of_added, keys = [], [], []
        for obj in add:
            kind = obj.get("kind", "?") if isinstance(obj, dict) else "?"
            policy, problems = _parse(lambda o: parse_calico_policy(o, PolicyError), obj, kind)
            problems_of_added.extend(problems)
            key = policy.key if policy is not None else problems[0].policy
            keys.append(key)
            if policy is not None:
                parsed.append(policy)
        dropped = set(keys) | set(remove)
        added = list({p.key: p for p in parsed}.values())  # the last of a key wins
        kept = [p for p in getattr(self, "calico_policies", ()) if p.key not in dropped]
        model = self.copy_with(
            policies=[dataclasses.replace(p) for p in self.policies],
            errors=[e for e in self.errors if e.policy not in dropped] + problems_of_added,
            calico_policies=kept + added,
        )
        return model, keys

    def with_policies(
        self, *, add: list[Policy] = (), remove=(), errors: list[PolicyError] = ()
    ) -> ClusterModel:
        """This model with the parsed policies ``add`` (replacing those of the same
        namespace/name) and without those keyed ``namespace/name`` in ``remove``;
        ``errors``: the added policies' problems. Only what the change touches is
        evaluated again when it can be (``incremental.py``); this model is unchanged."""
        return with_policies(self, list(add), set(remove), list(errors))

    # -- the evaluation ------------------------------------------------------------------

    @cached_property
    def evaluation(self) -> Evaluation:
        active = [p for p in self.pods if p.state == ACTIVE]
        with gc_paused():
            return Evaluation(
                self.namespaces,
                self.policies,
                active,
                self.cluster_policies,
                self.nodes,
                cilium_policies=getattr(self, "cilium_policies", ()),
                cluster_ips=self._cluster_ips,
                calico_policies=getattr(self, "calico_policies", ()),
                calico_tiers=getattr(self, "calico_tiers", ()),
                calico_network_sets=[
                    parse_network_set(o, PolicyError)[0]
                    for o in getattr(self, "calico_network_sets", ())
                ],
                service_account_labels=service_account_labels(
                    getattr(self, "service_accounts", ())
                ),
            )

    def partially_modelled(self) -> dict[str, list[str]]:
        """Pods some rule about them depends on what the engine cannot decide (Cilium L7
        rules, toFQDNs, toServices, toGroups; ClusterNetworkPolicy domainNames; Calico
        HTTP matches, services, source ports): pod key -> the policies with such rules."""
        ev = self.evaluation
        out: dict[str, list[str]] = {}
        for cls in ev.classes:
            keys = list(dict.fromkeys(key for key, _ in self._undecided_rules(cls.id)))
            if keys:
                for pod in cls.pods:
                    out[pod.key] = keys
        return out

    def undecided_about(self, pod: Pod) -> list[str]:
        """What the engine cannot decide in the rules about ``pod``, one text per rule
        ("cilium/prod/api-l7 ingress[0]: L7 rule toPorts[0].rules"); answers about the
        pod take such parts to match nothing."""
        c = self.evaluation.class_of.get(pod.key)
        return [] if c is None else [text for _, text in self._undecided_rules(c)]

    def _undecided_rules(self, c: int):
        ev = self.evaluation
        cilium = getattr(ev, "cilium", None)
        if cilium is not None and cilium.partial >> c & 1:
            for r in cilium.rules:
                if r.rule.undecided and r.subject >> c & 1:
                    yield r.policy.key, f"{r.label}: {', '.join(r.rule.undecided)}"
        if ev.tiers is not None:
            for r in ev.tiers.rules:
                if r.rule.domains and r.subject >> c & 1:
                    domains = ", ".join(r.rule.domains)
                    yield r.policy.key, f"{r.policy.key} rule {r.rule.label}: domainNames {domains}"
        calico = getattr(ev, "calico", None)
        if calico is not None and calico.partial >> c & 1:
            for r in calico.rules:
                rule = r.rule
                if rule is None or not r.local >> c & 1:
                    continue
                parts = rule.undecided + rule.source.undecided + rule.destination.undecided
                if parts:
                    where = f"{r.policy.key} {r.direction}[{r.index}]"
                    yield r.policy.key, f"{where}: {', '.join(parts)}"

    @property
    def _cluster_ips(self) -> IPSet:
        """The cluster's pod ranges as addresses: Cilium's ``cluster`` entity, never
        ``world`` (node addresses are added by ``cilium.py``)."""
        out = IPSet()
        for cidr in self.pod_ranges[0]:
            try:
                out = out | IPSet.from_cidr(cidr)
            except ValueError:
                continue
        return out

    @cached_property
    def tier_warnings(self) -> list[PolicyError]:
        """Cluster policies of one tier and priority whose subjects share a pod: the API
        leaves their order undefined (the engine orders them by name)."""
        if not self.cluster_policies:
            return []  # without evaluating
        tiers = self.evaluation.tiers
        return [
            PolicyError(
                p.key,
                "spec.priority",
                f"{p.tier} tier priority {p.priority} is also {q.key}'s and both select "
                "some pods: their order is undefined (evaluated by name)",
                p.kind,
            )
            for p, q in tiers.overlaps(self.evaluation)
        ]

    def pod(self, key: str) -> Pod:
        try:
            return self.pods_by_key[key]
        except KeyError:
            raise InputError(f"no pod {key!r}") from None

    # -- 1. isolation --------------------------------------------------------------------

    @gc_paused()
    def isolation(self) -> list[PodIsolation]:
        """Per pod, sorted by "namespace/name": isolation per direction and the policies
        that select it. hostNetwork pods get the category "policy behaviour undefined"."""
        return [
            self.pod_isolation(p) for p in sorted(self.pods, key=lambda p: (p.namespace, p.name))
        ]

    def pod_isolation(self, pod: Pod) -> PodIsolation:
        """``isolation()`` for one pod, without evaluating the others."""
        policies = [p.key for p in self.policies_selecting(pod)]
        if pod.state == ACTIVE:
            ing, egr = self.is_isolated(pod, INGRESS), self.is_isolated(pod, EGRESS)
            return PodIsolation(
                pod.key, pod.state, isolation_category(ing, egr), ing, egr, policies
            )
        if pod.state == HOST_NETWORK:
            return PodIsolation(
                pod.key,
                pod.state,
                UNDEFINED_CATEGORY,
                None,
                None,
                policies,
                "hostNetwork pods are outside NetworkPolicy enforcement",
            )
        return PodIsolation(
            pod.key,
            pod.state,
            NO_TRAFFIC_CATEGORY,
            None,
            None,
            policies,
            f"the pod {pod.inactive_reason}: it takes no part in traffic",
        )

    def is_isolated(self, pod: Pod, direction: str) -> bool:
        """Does a policy isolate this active pod for ``direction`` ("ingress"/"egress")?
        Pods outside enforcement (hostNetwork, no traffic) are never isolated."""
        c = self.evaluation.class_of.get(pod.key)
        return c is not None and self.evaluation.is_isolated(c, direction)

    def policies_selecting(self, pod: Pod) -> list[Policy]:
        """Every policy whose podSelector selects the pod, in policy order."""
        ev = self.evaluation
        c = ev.class_of.get(pod.key)
        if c is not None:
            return list(ev.policies_of[c])
        return [
            p
            for p in self.policies_by_namespace.get(pod.namespace, ())
            if p.pod_selector.matches(pod.labels)
        ]

    def namespaces_matching(self, selector: Selector) -> list[str]:
        """The names of the namespaces whose labels ``selector`` matches, sorted."""
        names, index = self._namespace_index
        return [names[i] for i in bit_positions(index.eval(selector))]

    @cached_property
    def _namespace_index(self) -> tuple[list[str], LabelIndex]:
        names = sorted(self.namespaces)
        return names, LabelIndex([self.namespaces[n].labels for n in names])

    @cached_property
    def policies_by_namespace(self) -> dict[str, list[Policy]]:
        out: dict[str, list[Policy]] = {}
        for policy in self.policies:
            out.setdefault(policy.namespace, []).append(policy)
        return out

    # -- 2. reach ------------------------------------------------------------------------

    def pods_reaching(self, destinations: list[str], port: int, protocol: str = "TCP") -> set[str]:
        """Keys of the active pods allowed to open a connection on the port to at least one
        of the ``destinations`` (pod keys; those not taking part in traffic are ignored)."""
        _check_port(port, protocol)
        ev = self.evaluation
        allowed = self._allowed
        bits = 0
        for c in {ev.class_of[k] for k in destinations if k in ev.class_of}:
            bits |= allowed.sources(c, port, protocol)
        return {pod.key for c in ev.classes_in(bits) for pod in ev.classes[c].pods}

    def workload_pods(self, key: str) -> list[Pod]:
        """The pods of a workload named ``namespace/Kind/name`` (``Pod.workload_key``), by
        name; InputError when no pod belongs to it."""
        pods = sorted((p for p in self.pods if p.workload_key == key), key=lambda p: p.name)
        if not pods:
            raise InputError(f"no workload {key!r} (namespace/Kind/name, e.g. shop/Deployment/web)")
        return pods

    def endpoint(self, value) -> Endpoint:
        """A pod (Pod or "namespace/name") or an IP address; an address of a known pod is
        that pod, an address of a node is that node."""
        if isinstance(value, Pod):
            return Endpoint(pod=value)
        if not isinstance(value, str):
            raise InputError(f"{value!r} is neither a pod nor an IP address")
        try:
            ip = ip_to_int(value)
        except ValueError:
            if "/" not in value:
                raise InputError(f"{value!r} is neither namespace/pod nor an IP address") from None
            return Endpoint(pod=self.pod(value))
        pod = self._pods_by_ip.get(ip)
        if pod is not None:
            return Endpoint(pod=pod)
        return Endpoint(ip=ip, node=self._node_addresses.get(ip, ""))

    @cached_property
    def _pods_by_ip(self) -> dict[int, Pod]:
        """Addresses of pods with their own network (a hostNetwork pod shares its node's);
        an active pod wins over a finished one that held the same address."""
        out: dict[int, Pod] = {}
        for pod in self.pods:
            if not pod.host_network:
                for value in pod.ip_values:
                    if value not in out or pod.state == ACTIVE:
                        out[value] = pod
        return out

    @cached_property
    def _node_addresses(self) -> dict[int, str]:
        return {ip_to_int(a): n.name for n in self.nodes for a in n.addresses}

    def reach(self, src, dst, port: int, protocol: str = "TCP") -> Verdict:
        """Is ``src`` -> ``dst`` on port/protocol allowed, and why. Raises InputError for an
        unknown pod, a bad address, port or protocol."""
        try:
            return reach(self.evaluation, self.endpoint(src), self.endpoint(dst), port, protocol)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(str(exc)) from None

    # -- 3. allowed set and matrix ---------------------------------------------------------

    def allowed_connections(self) -> AllowedConnections:
        return self._allowed

    @cached_property
    def _allowed(self) -> AllowedConnections:
        ev = self.evaluation
        with gc_paused():
            return AllowedConnections(ev, ev.allowed())

    @gc_paused()
    def matrix(self, port: int | None = None, protocol: str = "TCP") -> dict:
        """``{"pods": [sorted "ns/name"], "matrix": [[bool]]}``; ``matrix[i][j]``: may
        pods[i] open a connection to pods[j] on the port (any port when None). Only active
        pods appear (hostNetwork pods and pods without an IP are left out); a pod always
        reaches itself."""
        _check_port(port, protocol)
        allowed = self._allowed
        ev = self.evaluation
        keys = sorted(ev.class_of)
        classes = [ev.class_of[k] for k in keys]
        sources_of: dict[int, int] = {}
        columns = []
        for c in classes:
            if c not in sources_of:
                sources_of[c] = allowed.sources(c, port, protocol)
            columns.append(sources_of[c])
        matrix = [
            [i == j or bool(columns[j] >> ci & 1) for j in range(len(keys))]
            for i, ci in enumerate(classes)
        ]
        return {"pods": keys, "matrix": matrix}

    @gc_paused()
    def grouped_matrix(self, by: str, port: int | None = None, protocol: str = "TCP") -> dict:
        """``{"by", "groups": [sorted names], "matrix": [[ "all" | "some" | "none" ]]}``:
        may the pods of groups[i] open connections to the pods of groups[j] ("all": every
        pair of two pods, "some": some pairs, "none": none, or no pair at all). Groups are
        namespaces or
        workloads (``ns/Kind/name``) of active pods. Computed on classes, never per pod
        pair: one bitset test per destination class and source group."""
        if by not in ("namespace", "workload"):
            raise InputError(f"group by {by!r}: use namespace or workload")
        _check_port(port, protocol)
        ev = self.evaluation
        allowed = self._allowed
        members: dict[str, dict[int, int]] = {}  # group -> {class: its pods in the group}
        for cls in ev.classes:
            for pod in cls.pods:
                name = pod.namespace if by == "namespace" else pod.workload_key
                count = members.setdefault(name, {})
                count[cls.id] = count.get(cls.id, 0) + 1
        groups = sorted(members)
        masks = [sum(1 << c for c in members[g]) for g in groups]
        sources = {c: allowed.sources(c, port, protocol) for g in groups for c in members[g]}
        matrix = [["none"] * len(groups) for _ in groups]
        for j, dst in enumerate(groups):
            for i, mask in enumerate(masks):
                seen = set()
                for c, n in members[dst].items():
                    # A pod and itself is no pair: in its own group, a class with one pod
                    # there is no source of itself.
                    m = mask & ~(1 << c) if i == j and n == 1 else mask
                    if m:
                        hit = sources[c] & m
                        seen.add("none" if not hit else "all" if hit == m else "some")
                matrix[i][j] = seen.pop() if len(seen) == 1 else "some" if seen else "none"
        return {"by": by, "groups": groups, "matrix": matrix}

    # -- 4. external exposure ---------------------------------------------------------------

    @cached_property
    def pod_ranges(self) -> tuple[list[str], str]:
        """(the cluster's pod CIDRs, where they come from): declared by the user, read
        off the Nodes' podCIDRs, inferred from pod IPs (see ``ranges``), or none known."""
        if self.declared.pod:
            return list(self.declared.pod), DECLARED
        from_nodes = [c for node in self.nodes for c in node.pod_cidrs]
        if from_nodes:
            return from_nodes, NODES
        inferred = infer_pod_cidrs(
            v for pod in self.pods if not pod.host_network for v in pod.ip_values
        )
        return inferred, (INFERRED if inferred else NONE)

    @property
    def pod_ranges_source(self) -> str:
        return self.pod_ranges[1]

    @property
    def inferred_pod_cidrs(self) -> list[str]:
        cidrs, source = self.pod_ranges
        return cidrs if source == INFERRED else []

    def ranges_summary(self) -> dict:
        """What the cluster's ranges were taken from, for answers to state."""
        cidrs, source = self.pod_ranges
        return {
            "pod": cidrs,
            "service": list(self.declared.service),
            "node": list(self.declared.node),
            "source": source,
        }

    def cluster_ranges(self) -> IPSet:
        """Addresses inside the cluster: declared CIDRs, node podCIDRs (or the pod ranges
        inferred without them), node addresses, service cluster IPs and every pod IP."""
        cidrs = self.declared_cidrs + [c for node in self.nodes for c in node.pod_cidrs]
        cidrs += self.inferred_pod_cidrs
        ranges = [IPSet.from_cidr(c).ranges[0] for c in cidrs]
        singles = [ip_to_int(a) for node in self.nodes for a in node.addresses]
        singles += [ip_to_int(a) for service in self.services for a in service.cluster_ips]
        singles += [v for pod in self.pods for v in pod.ip_values]
        return IPSet(ranges + [(v, v + 1) for v in singles])

    def external_exposure(self) -> ExternalExposure:
        return self._exposure

    @cached_property
    def _exposure(self) -> ExternalExposure:
        ev, allowed = self.evaluation, self._allowed
        with gc_paused():
            return ExternalExposure(ev, self.cluster_ranges(), allowed.groups, ev.egress_ips())


def _check_port(port, protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise InputError(f"port {port!r} is outside 1-65535")


def _parse(parser, obj, kind: str):
    """Run a parser; a field of the wrong type anywhere becomes an InputError naming the
    object, never a crash."""
    try:
        return parser(obj)
    except InputError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        md = obj.get("metadata") if isinstance(obj, dict) else None
        name = md.get("name", "?") if isinstance(md, dict) else "?"
        raise InputError(f"{kind} {name}: malformed object ({type(exc).__name__}: {exc})") from None


def _unique(keys, kind: str) -> None:
    seen = set()
    for key in keys:
        if key in seen:
            raise InputError(f"{kind} {key} appears twice")
        seen.add(key)
