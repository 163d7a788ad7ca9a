"""Calico's label selector language: parsing, per-object matching, and bitset evaluation.

The language, as Calico's policy reference defines it:

* match operators: ``all()``, ``global()``, ``k == 'v'``, ``k != 'v'``, ``has(k)``,
  ``k in {'v1', 'v2'}``, ``k not in {...}``, ``k contains 's'``, ``k starts with 's'``,
  ``k ends with 's'``;
* logic, from the tightest binding: parentheses, ``!``, ``&&``, ``||``.

``!=`` and ``not in`` also match objects *without* the label (the documentation says so;
Kubernetes' ``NotIn`` agrees). ``global()`` matches non-namespaced objects only (global
network sets, host endpoints); pods and namespaces are namespaced, so the caller says
which items are global. An empty selector text means ``all()`` where Calico allows it
(``spec.selector`` of a policy); the parser takes ``default`` for that case.

``parse_calico_selector`` returns a ``CalicoSelector`` whose ``matches(labels)`` is the
plain rule (the reference evaluation) and ``eval(index)`` answers for a whole
``LabelIndex`` at once with big-int operations, as ``Selector`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .selectors import LabelIndex

__all__ = ["CalicoSelector", "CalicoSelectorError", "parse_calico_selector"]


class CalicoSelectorError(ValueError):
    """A selector Calico would refuse; the message names the position and what was found."""


# --- the syntax tree --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _All:
    def matches(self, labels, is_global):
        return True

    def bits(self, index, global_bits):
        return index.all


@dataclass(frozen=True, slots=True)
class _Global:
    def matches(self, labels, is_global):
        return is_global

    def bits(self, index, global_bits):
        return global_bits


@dataclass(frozen=True, slots=True)
class _Has:
    key: str

    def matches(self, labels, is_global):
        return self.key in labels

    def bits(self, index, global_bits):
        return index.key_bits(self.key)


@dataclass(frozen=True, slots=True)
class _In:
    """``k == 'v'`` and ``k in {...}``; ``negated`` for ``!=`` and ``not in``."""

    key: str
    values: frozenset[str]
    negated: bool = False

    def matches(self, labels, is_global):
        hit = labels.get(self.key) in self.values if self.key in labels else False
        return hit != self.negated

    def bits(self, index, global_bits):
        out = 0
        for value in self.values:
            out |= index.pair_bits(self.key, value)
        return index.all & ~out if self.negated else out


@dataclass(frozen=True, slots=True)
class _Text:
    """``contains``, ``starts with``, ``ends with``: the label must be present."""

    key: str
    op: str
    text: str

    def test(self, value: str) -> bool:
        if self.op == "contains":
            return self.text in value
        if self.op == "starts with":
            return value.startswith(self.text)
        return value.endswith(self.text)

    def matches(self, labels, is_global):
        return self.key in labels and self.test(labels[self.key])

    def bits(self, index, global_bits):
        out = 0
        for value in index.values_of(self.key):
            if self.test(value):
                out |= index.pair_bits(self.key, value)
        return out


@dataclass(frozen=True, slots=True)
class _Not:
    inner: object

    def matches(self, labels, is_global):
        return not self.inner.matches(labels, is_global)

    def bits(self, index, global_bits):
        return index.all & ~self.inner.bits(index, global_bits)


@dataclass(frozen=True, slots=True)
class _And:
    parts: tuple

    def matches(self, labels, is_global):
        return all(p.matches(labels, is_global) for p in self.parts)

    def bits(self, index, global_bits):
        out = index.all
        for part in self.parts:
            out &= part.bits(index, global_bits)
        return out


@dataclass(frozen=True, slots=True)
class _Or:
    parts: tuple

    def matches(self, labels, is_global):
        return any(p.matches(labels, is_global) for p in self.parts)

    def bits(self, index, global_bits):
        out = 0
        for part in self.parts:
            out |= part.bits(index, global_bits)
        return out


@dataclass(frozen=True, slots=True)
class CalicoSelector:
    """A parsed selector; ``text`` as written, for answers that quote it."""

    text: str
    tree: object

    def matches(self, labels: dict[str, str], *, is_global: bool = False) -> bool:
        return self.tree.matches(labels, is_global)

    def eval(self, index: LabelIndex, global_bits: int = 0) -> int:
        """The bitset of the index's items the selector matches; ``global_bits``: the
        items that are not namespaced (what ``global()`` matches)."""
        return self.tree.bits(index, global_bits) & index.all


# --- the parser -----------------------------------------------------------------------

# Label keys: an optional DNS prefix and "/", then a name (Calico allows the same
# characters Kubernetes does).
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'[^']*'|"[^"]*")
      | (?P<op>==|!=|&&|\|\||[!(){},])
      | (?P<word>[A-Za-z0-9_./-]+)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise CalicoSelectorError(
                f"unexpected {text[pos:].lstrip()[:1]!r} at character {pos + 1} of {text!r}"
            )
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0):
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "", len(self.text))

    def take(self):
        token = self.peek()
        self.i += 1
        return token

    def fail(self, wanted: str):
        kind, value, at = self.peek()
        found = "the end" if kind == "end" else repr(value)
        raise CalicoSelectorError(
            f"expected {wanted} at character {at + 1} of {self.text!r}, found {found}"
        )

    def expect(self, kind: str, value: str | None = None) -> str:
        k, v, _ = self.peek()
        if k != kind or (value is not None and v != value):
            self.fail(repr(value) if value else kind)
        self.i += 1
        return v

    def parse(self):
        tree = self.disjunction()
        if self.peek()[0] != "end":
            self.fail("'&&', '||' or the end")
        return tree

    def disjunction(self):
        parts = [self.conjunction()]
        while self.peek()[:2] == ("op", "||"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else _Or(tuple(parts))

    def conjunction(self):
        parts = [self.negation()]
        while self.peek()[:2] == ("op", "&&"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else _And(tuple(parts))

    def negation(self):
        if self.peek()[:2] == ("op", "!"):
            self.take()
            return _Not(self.negation())
        return self.atom()

    def atom(self):
        kind, value, _ = self.peek()
        if (kind, value) == ("op", "("):
            self.take()
            inner = self.disjunction()
            self.expect("op", ")")
            return inner
        if kind != "word":
            self.fail("a label, all(), global(), has(…) or '('")
        if value in ("all", "global", "has") and self.peek(1)[:2] == ("op", "("):
            self.take()
            self.take()
            if value == "has":
                key = self.expect("word")
                self.expect("op", ")")
                return _Has(key)
            self.expect("op", ")")
            return _All() if value == "all" else _Global()
        key = self.take()[1]
        kind, op, _ = self.peek()
        if (kind, op) in (("op", "=="), ("op", "!=")):
            self.take()
            return _In(key, frozenset([_unquote(self.expect("str"))]), negated=op == "!=")
        if (kind, op) == ("word", "in"):
            self.take()
            return _In(key, self.value_set())
        if (kind, op) == ("word", "not") and self.peek(1)[:2] == ("word", "in"):
            self.take()
            self.take()
            return _In(key, self.value_set(), negated=True)
        if (kind, op) == ("word", "contains"):
            self.take()
            return _Text(key, "contains", _unquote(self.expect("str")))
        if (kind, op) in (("word", "starts"), ("word", "ends")) and self.peek(1)[:2] == (
            "word",
            "with",
        ):
            self.take()
            self.take()
            return _Text(key, f"{op} with", _unquote(self.expect("str")))
        self.fail("==, !=, in, not in, contains, starts with or ends with")

    def value_set(self) -> frozenset[str]:
        self.expect("op", "{")
        values = []
        if self.peek()[:2] != ("op", "}"):
            values.append(_unquote(self.expect("str")))
            while self.peek()[:2] == ("op", ","):
                self.take()
                values.append(_unquote(self.expect("str")))
        self.expect("op", "}")
        return frozenset(values)


def _unquote(token: str) -> str:
    return token[1:-1]


def parse_calico_selector(text, *, default: str | None = None) -> CalicoSelector:
    """Parse a Calico selector; ``default`` stands for an empty or absent one (Calico reads
    an empty ``spec.selector`` as ``all()``). Raises ``CalicoSelectorError``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        if default is None:
            raise CalicoSelectorError("the selector is empty")
        text = default
    if not isinstance(text, str):
        raise CalicoSelectorError(f"a selector is text, not {type(text).__name__}")
    return CalicoSelector(text, _Parser(text).parse())
