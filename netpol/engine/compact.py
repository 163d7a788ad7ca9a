"""The compact stored form of a built ``ClusterModel``: a pickle that is small and quick
to load, so a model stored with its snapshot answers the first page after a restart.

A plain pickle of a 50,000-pod model with its evaluation, allowed set and exposure is
105 MB and takes most of a second to load. Pickle's memo shares an object only with
itself, so equal values built separately are stored once each, and frozen dataclasses
load through ``dataclasses``' generic ``__setstate__``, field by field. Here a pickler
with its own reducers (``dispatch_table``, per pickler, so nothing global changes):

1. stores equal immutable parts once: selectors, port entries, peers, rules, IP and
   port sets, the pods' label dicts, named ports and strings (namespace, phase, node,
   workload, the pod keys of the indexes);
2. stores each distinct bitset (a Python int, bit i = class i) once, shifted right by
   its lowest set bit: a policy's selection lies in one namespace's range of class ids,
   so most are a few bytes, not a bit per class of the cluster;
3. rebuilds dataclasses by calling them with their fields (one call each, no per-field
   ``setattr`` through ``dataclasses``).

On load the bitsets are shared too: one int per distinct value instead of one per use.
Sharing equal label dicts and sets between pods is safe because a model is immutable.
Only bytes written by ``model_to_bytes`` may be given to ``model_from_bytes``: the
caller authenticates them first (a pickle runs code), and the unpickler also refuses
any global outside the engine and a few builtins.
"""

from __future__ import annotations

import copyreg
import gc
import io
import pickle
from dataclasses import fields, is_dataclass

from . import allowed, classes, cluster, evaluate, exposure, ipsets, model, ports, selectors
from .gcpause import gc_paused

# Ints longer than this are bitsets worth sharing and shifting; IP addresses (at most
# 129 bits on the engine's number line) and counters stay as they are.
_BITSET_MIN_BITS = 256
PROTOCOL = 5


def _bits(low: int, shifted: int) -> int:
    """A bitset stored as its lowest set bit and the bits from there."""
    return shifted << low


def _same(value):
    """An equal value already stored: the pickle refers to it instead of a copy."""
    return value


def _restore(cls, state: dict):
    """An object of a class with a ``__dict__`` (the evaluation, allowed set, exposure,
    label indexes), from its encoded ``__dict__``."""
    obj = cls.__new__(cls)
    if cls is cluster.ClusterModel:
        obj.__setstate__(state)  # it recreates its lock
    else:
        obj.__dict__.update(state)
    return obj


class _Bitset:
    """Stands for one distinct bitset while pickling (reduced by ``_Pickler``)."""

    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value = value


def _init_fields(cls) -> tuple[str, ...] | None:
    """The fields a dataclass with slots takes positionally, in order, when they are all
    its slots (so calling it with them rebuilds the object); else None."""
    if not is_dataclass(cls) or not hasattr(cls, "__slots__"):
        return None
    names = tuple(f.name for f in fields(cls) if f.init)
    return names if names == tuple(cls.__slots__) else None


# Immutable (frozen, hashable when their fields are) dataclasses: equal ones are stored once.
_FROZEN = (selectors.Selector, ports.PortSpec, model.Peer, model.Rule)
# Dataclasses that carry identity (pods, policies and what refers to them by identity).
_PLAIN = (
    model.Namespace,
    model.Node,
    model.Service,
    model.Policy,
    model.PolicyError,
    evaluate.DestinationGroup,
    evaluate.EgressGroup,
)
# Classes with a ``__dict__`` whose state may hold bitsets.
_STATEFUL = (
    cluster.ClusterModel,
    evaluate.Evaluation,
    allowed.AllowedConnections,
    exposure.ExternalExposure,
    selectors.LabelIndex,
)


class _Pickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=PROTOCOL)
        self._equal: dict = {}  # value -> the first equal object stored
        self._bitsets: dict[int, _Bitset] = {}
        self._encoded: dict[int, tuple] = {}  # id(container) -> (container, its encoding)
        table = dict(copyreg.dispatch_table)
        for cls in _FROZEN:
            table[cls] = self._frozen
        for cls in _PLAIN:
            table[cls] = self._plain
        for cls in _STATEFUL:
            table[cls] = self._stateful
        table[ipsets.IPSet] = table[ports.PortSet] = self._intervals
        table[_Bitset] = self._bitset
        table[model.Pod] = self._pod
        table[classes.PodClass] = self._pod_class
        table[evaluate.CompiledRule] = self._compiled_rule
        table[evaluate.Entry] = self._entry
        self.dispatch_table = table

    # -- sharing equal values ---------------------------------------------------------

    def _canonical(self, value):
        """The first stored object equal to ``value`` (``value`` itself when it is the
        first, or not hashable)."""
        try:
            return self._equal.setdefault(value, value)
        except TypeError:
            return value

    def _string(self, text):
        return self._equal.setdefault(text, text) if type(text) is str else text

    def _labels(self, labels: dict) -> dict:
        """One dict per distinct label mapping (same items in the same order)."""
        key = ("labels", *labels.items())
        found = self._equal.get(key)
        if found is None:
            found = self._equal[key] = {self._string(k): self._string(v) for k, v in labels.items()}
        return found

    def _encode(self, value):
        """A state value with its bitsets replaced by shared ``_Bitset`` tokens and the
        keys of string-keyed dicts (pod keys) shared."""
        kind = type(value)
        if kind is int:
            if value.bit_length() <= _BITSET_MIN_BITS:
                return value
            token = self._bitsets.get(value)
            if token is None:
                token = self._bitsets[value] = _Bitset(value)
            return token
        if kind not in (list, tuple, dict):
            return value
        # A container held in two places (the policies, the namespaces) stays one.
        done = self._encoded.get(id(value))
        if done is not None:
            return done[1]
        if kind is list:
            out = [self._encode(v) for v in value]
        elif kind is tuple:
            out = tuple(self._encode(v) for v in value)
        else:
            out = {self._string(k): self._encode(v) for k, v in value.items()}
        self._encoded[id(value)] = (value, out)
        return out

    # -- reducers, one per kind of object -----------------------------------------------

    def _bitset(self, token: _Bitset):
        value = token.value
        low = (value & -value).bit_length() - 1
        return _bits, (low, value >> low)

    def _frozen(self, obj):
        canonical = self._canonical(obj)
        if canonical is not obj:
            return _same, (canonical,)
        return self._plain(obj)

    def _plain(self, obj):
        cls = type(obj)
        names = _INIT_FIELDS.get(cls)
        if names is None:
            return obj.__reduce_ex__(PROTOCOL)
        return cls, tuple(getattr(obj, n) for n in names)

    def _intervals(self, obj):
        canonical = self._canonical(obj)
        if canonical is not obj:
            return _same, (canonical,)
        return type(obj)._raw, (obj.ranges,)

    def _stateful(self, obj):
        state = obj.__getstate__() if type(obj) is cluster.ClusterModel else obj.__dict__
        return _restore, (type(obj), self._encode(state))

    def _pod(self, pod: model.Pod):
        s = self._string
        return model.Pod, (
            s(pod.namespace),
            pod.name,
            self._labels(pod.labels),
            pod.ips,
            pod.host_network,
            s(pod.phase),
            s(pod.node_name),
            self._canonical(pod.named_ports),
            pod.from_template,
            s(pod.workload),
            pod.ip_values,
            s(pod.service_account),
        )

    def _pod_class(self, c: classes.PodClass):
        return classes.PodClass, (
            c.id,
            self._string(c.namespace),
            self._labels(c.labels),
            self._canonical(c.named_ports),
            self._encode(c.blocks),
            c.pods,
            c.service_account,
        )

    def _compiled_rule(self, r: evaluate.CompiledRule):
        return self._plain_encoded(r)

    def _entry(self, e: evaluate.Entry):
        return self._plain_encoded(e)

    def _plain_encoded(self, obj):
        cls = type(obj)
        names = _INIT_FIELDS.get(cls)
        if names is None:
            return obj.__reduce_ex__(PROTOCOL)
        return cls, tuple(self._encode(getattr(obj, n)) for n in names)


# Checked once: a dataclass whose fields stop matching its slots falls back to pickle's
# own reduction (still correct, only less compact).
_INIT_FIELDS = {
    cls: names
    for cls in (
        *_FROZEN,
        *_PLAIN,
        model.Pod,
        classes.PodClass,
        evaluate.CompiledRule,
        evaluate.Entry,
    )
    if (names := _init_fields(cls)) is not None
}
assert model.Pod in _INIT_FIELDS and classes.PodClass in _INIT_FIELDS, "see _pod, _pod_class"

_ALLOWED_GLOBALS = {
    ("builtins", "frozenset"),
    ("builtins", "set"),
    ("builtins", "getattr"),
    ("copyreg", "__newobj__"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        """Only the engine's own classes and functions (and a few builtins pickle itself
        names) may be called by a stored model."""
        if (
            module == __name__
            or module.startswith(__package__ + ".")
            or (module, name) in _ALLOWED_GLOBALS
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a stored model may not name {module}.{name}")


def _to_oldest_generation() -> None:
    """Move every object the collector tracks, the loaded model's half a million among
    them, to its oldest generation, so the young collections that follow do not walk the
    model (0.6 s at 50,000 pods) only to find it is all alive. ``freeze`` moves them to
    the permanent generation and ``unfreeze`` to the oldest: two list splices. Skipped
    when the process froze objects itself (a pre-forking server may)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def model_to_bytes(model_: cluster.ClusterModel) -> bytes:
    """The model with what it computed (evaluation, allowed set, exposure) in its compact
    stored form; what callers derived (``model.derived``) is left out."""
    out = io.BytesIO()
    with gc_paused():
        _Pickler(out).dump(model_)
    return out.getvalue()


def model_from_bytes(data: bytes) -> cluster.ClusterModel:
    """The model ``model_to_bytes`` stored. ``data`` must be authenticated by the caller;
    raises ``pickle.UnpicklingError`` (or another error) when it cannot be read."""
    with gc_paused():  # the collector would walk the growing heap again and again
        loaded = _Unpickler(io.BytesIO(data)).load()
        _to_oldest_generation()
    if not isinstance(loaded, cluster.ClusterModel):
        raise pickle.UnpicklingError("not a stored cluster model")
    return loaded
