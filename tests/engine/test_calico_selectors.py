"""Calico's selector language, case by case from Calico's policy reference (the selector
table and its precedence example), and the bitset evaluation against the plain rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netpol.engine.calico_selectors import CalicoSelectorError, parse_calico_selector
from netpol.engine.selectors import LabelIndex

WEB = {"role": "frontend", "my-label": "production", "app.kubernetes.io/name": "web"}
DB = {"role": "database"}
BARE: dict[str, str] = {}


def matches(text: str, labels: dict, **kw) -> bool:
    return parse_calico_selector(text).matches(labels, **kw)


@pytest.mark.parametrize(
    "text, web, db, bare",
    [
        # Match operators, one row of the reference each.
        ("all()", True, True, True),
        ("role == 'frontend'", True, False, False),
        ('role == "frontend"', True, False, False),  # either quote
        # "without label 'k' or with label 'k' and value not equal to 'v'"
        ("role != 'frontend'", False, True, True),
        ("has(role)", True, True, False),
        ("!has(role)", False, False, True),
        ("role in {'frontend', 'business'}", True, False, False),
        ("role not in {'frontend', 'business'}", False, True, True),
        ("role in {}", False, False, False),
        ("my-label contains 'duct'", True, False, False),
        ("my-label starts with 'prod'", True, False, False),
        ("my-label ends with 'tion'", True, False, False),
        ("my-label starts with ''", True, False, False),  # present, any value
        ("app.kubernetes.io/name == 'web'", True, False, False),  # prefixed keys
        # Logic.
        ("!all()", False, False, False),  # "to match no resources"
        ("has(role) && role != 'database'", True, False, False),
        ("role == 'database' || !has(role)", False, True, True),
        ("!(role == 'frontend' || role == 'database')", False, False, True),
        ("  role  ==  'frontend'  ", True, False, False),  # whitespace
    ],
)
def test_each_operator_as_the_reference_defines_it(text, web, db, bare):
    assert (matches(text, WEB), matches(text, DB), matches(text, BARE)) == (web, db, bare)


def test_precedence_as_the_reference_brackets_its_example():
    # "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
    # reads ((!(has(my-label)) || ((my-label starts with 'prod') && (role in {...}))).
    text = "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
    assert matches(text, {"role": "database"})  # no my-label
    assert matches(text, {"my-label": "prod-1", "role": "business"})
    assert not matches(text, {"my-label": "prod-1", "role": "database"})
    assert not matches(text, {"my-label": "dev", "role": "frontend"})
    # With the other grouping, a resource without my-label and no role would not match.
    assert matches(text, {})


def test_global_matches_only_what_is_not_namespaced():
    assert matches("global()", {}, is_global=True)
    assert not matches("global()", {"a": "b"})
    assert matches("!global()", {})


def test_an_empty_selector_is_refused_unless_a_default_is_given():
    with pytest.raises(CalicoSelectorError, match="empty"):
        parse_calico_selector("  ")
    assert parse_calico_selector("", default="all()").matches({})


@pytest.mark.parametrize(
    "text, where",
    [
        ("role == frontend", "expected str at character 9"),  # values are quoted
        ("role = 'x'", "unexpected '='"),
        ("has(role", "expected ')'"),
        ("role in {'a' 'b'}", "expected '}'"),
        ("(role == 'a'", "expected ')'"),
        ("role == 'a' role == 'b'", "expected '&&', '||' or the end"),
        ("role", "expected ==, !=, in, not in"),
        ("&& role == 'a'", "expected a label"),
    ],
)
def test_a_malformed_selector_names_the_position(text, where):
    with pytest.raises(CalicoSelectorError) as caught:
        parse_calico_selector(text)
    assert where in str(caught.value)
    assert repr(text) in str(caught.value)


# --- the bitset evaluation agrees with the plain rule ------------------------------------

KEYS = st.sampled_from(["role", "tier", "app.kubernetes.io/name"])
VALUES = st.sampled_from(["frontend", "front", "backend", "db", ""])
LABELS = st.dictionaries(KEYS, VALUES, max_size=3)


def _leaf():
    quoted = VALUES.map(lambda v: f"'{v}'")
    value_set = st.lists(quoted, max_size=3).map(lambda vs: "{" + ", ".join(vs) + "}")
    return st.one_of(
        st.just("all()"),
        st.just("global()"),
        KEYS.map(lambda k: f"has({k})"),
        st.tuples(KEYS, st.sampled_from(["==", "!="]), quoted).map(" ".join),
        st.tuples(KEYS, st.sampled_from(["in", "not in"]), value_set).map(" ".join),
        st.tuples(KEYS, st.sampled_from(["contains", "starts with", "ends with"]), quoted).map(
            " ".join
        ),
    )


SELECTORS = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        inner.map(lambda e: f"!({e})"),
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(text=SELECTORS, items=st.lists(st.tuples(LABELS, st.booleans()), max_size=12))
def test_bitset_evaluation_equals_matching_item_by_item(text, items):
    selector = parse_calico_selector(text)
    index = LabelIndex([labels for labels, _ in items])
    global_bits = sum(1 << i for i, (_, is_global) in enumerate(items) if is_global)
    expected = sum(
        1 << i
        for i, (labels, is_global) in enumerate(items)
        if selector.matches(labels, is_global=is_global)
    )
    assert selector.eval(index, global_bits) == expected
