"""Label selectors: parsing, per-object matching, and whole-population bitset evaluation.

``Selector.matches`` is the plain rule from the Kubernetes documentation and is what the
reference evaluation uses. ``LabelIndex`` answers the same question for a whole population
at once: it keeps, for every label, the bitset (a Python int) of items carrying it, so a
selector costs a handful of big-int ANDs instead of one dict lookup per item.
"""

from __future__ import annotations

from dataclasses import dataclass

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed LabelSelector. An empty one selects everything; an invalid one nothing."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    valid: bool = True

    @property
    def is_empty(self) -> bool:
        return self.valid and not self.match_labels and not self.expressions

    def matches(self, labels: dict[str, str]) -> bool:
        if not self.valid:
            return False
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True

    def to_dict(self) -> dict:
        out: dict = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.expressions:
            out["matchExpressions"] = [
                {"key": k, "operator": op, **({"values": list(v)} if v else {})}
                for k, op, v in self.expressions
            ]
        return out


EVERYTHING = Selector()
NOTHING = Selector(valid=False)


def parse_selector(obj, path: str, errors: list[tuple[str, str]]) -> Selector:
    """A LabelSelector from its API form. Problems are appended to ``errors`` as (field, message)
    and make the selector invalid (it then selects nothing)."""
    if obj is None:
        return EVERYTHING
    if not isinstance(obj, dict):
        errors.append((path, "must be a mapping"))
        return NOTHING
    unknown = set(obj) - {"matchLabels", "matchExpressions"}
    if unknown:
        errors.append((path, f"unknown field(s) {', '.join(sorted(unknown))}"))
        return NOTHING
    labels = obj.get("matchLabels") or {}
    if not isinstance(labels, dict):
        errors.append((f"{path}.matchLabels", "must be a mapping of strings"))
        return NOTHING
    exprs = obj.get("matchExpressions") or []
    if not isinstance(exprs, list):
        errors.append((f"{path}.matchExpressions", "must be a list"))
        return NOTHING
    parsed = []
    for i, expr in enumerate(exprs):
        where = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, dict) or not isinstance(expr.get("key"), str) or not expr["key"]:
            errors.append((where, "needs a key"))
            return NOTHING
        op = expr.get("operator")
        values = expr.get("values") or []
        if op not in OPERATORS:
            errors.append((f"{where}.operator", f"{op!r} is not one of {', '.join(OPERATORS)}"))
            return NOTHING
        if not isinstance(values, list):
            errors.append((f"{where}.values", "must be a list"))
            return NOTHING
        if op in ("In", "NotIn") and not values:
            errors.append((f"{where}.values", f"must be non-empty for {op}"))
            return NOTHING
        if op in ("Exists", "DoesNotExist") and values:
            errors.append((f"{where}.values", f"must be empty for {op}"))
            return NOTHING
        parsed.append((expr["key"], op, tuple(sorted(str(v) for v in values))))
    return Selector(
        match_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        expressions=tuple(parsed),
    )


def bits_from_positions(positions, size: int) -> int:
    """An int with the given bit positions set (fast for any number of positions)."""
    buf = bytearray((size >> 3) + 1)
    for p in positions:
        buf[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(buf, "little")


class LabelIndex:
    """Bitsets of items per label, to evaluate a selector over all items at once."""

    def __init__(self, label_sets: list[dict[str, str]]):
        self.size = size = len(label_sets)
        self.all = (1 << size) - 1
        # Positions per label; turned into bitsets only for labels a selector asks about
        # (most labels, like pod-template-hash, never are).
        self._pair_positions: dict[tuple[str, str], list[int]] = {}
        self._key_positions: dict[str, list[int]] = {}
        for i, labels in enumerate(label_sets):
            for pair in labels.items():
                self._pair_positions.setdefault(pair, []).append(i)
                self._key_positions.setdefault(pair[0], []).append(i)
        self._pair_bits: dict[tuple[str, str], int] = {}
        self._key_bits: dict[str, int] = {}
        self._cache: dict[Selector, int] = {}
        self._values: dict[str, list[str]] | None = None

    def _pair(self, pair: tuple[str, str]) -> int:
        bits = self._pair_bits.get(pair)
        if bits is None:
            bits = self._pair_bits[pair] = bits_from_positions(
                self._pair_positions.get(pair, ()), self.size
            )
        return bits

    def _key(self, key: str) -> int:
        bits = self._key_bits.get(key)
        if bits is None:
            bits = self._key_bits[key] = bits_from_positions(
                self._key_positions.get(key, ()), self.size
            )
        return bits

    def pair_bits(self, key: str, value: str) -> int:
        """The items carrying label ``key`` with ``value``."""
        return self._pair((key, value))

    def key_bits(self, key: str) -> int:
        """The items carrying label ``key``, whatever its value."""
        return self._key(key)

    def values_of(self, key: str) -> list[str]:
        """Every value label ``key`` takes among the items (for text matches in Calico's
        selectors, which cannot be looked up by value)."""
        if self._values is None:
            self._values = {}
            for k, v in self._pair_positions:
                self._values.setdefault(k, []).append(v)
        return self._values.get(key, [])

    def eval(self, selector: Selector) -> int:
        """The bitset of items the selector matches."""
        hit = self._cache.get(selector)
        if hit is not None:
            return hit
        if not selector.valid:
            result = 0
        else:
            result = self.all
            pair, key = self._pair, self._key
            for kv in selector.match_labels:
                result &= pair(kv)
            for k, op, values in selector.expressions:
                if op == "Exists":
                    result &= key(k)
                elif op == "DoesNotExist":
                    result &= ~key(k)
                else:
                    anyof = 0
                    for v in values:
                        anyof |= pair((k, v))
                    result &= anyof if op == "In" else ~anyof
            result &= self.all
        self._cache[selector] = result
        return result
