"""Names and labels are checked as the API server checks them (cases from the Kubernetes
docs: "Object Names and IDs" and "Labels and Selectors / Syntax and character set")."""

from __future__ import annotations

import pytest

from netpol.collect.validate import label_key_problem, label_value_problem, name_problem


@pytest.mark.parametrize("name", ["web", "web-0", "a", "0abc", "x" * 63])
def test_valid_dns_labels(name):
    assert name_problem(name, "label") is None


@pytest.mark.parametrize(
    "name, says",
    [
        ("Web", "is not a valid name"),  # upper case
        ("-web", "is not a valid name"),
        ("web-", "is not a valid name"),
        ("web.shop", "is not a valid name"),  # a dot is for subdomains only
        ("we/b", "is not a valid name"),
        ("x" * 64, "is longer than 63 characters"),
        ("web\u202eexe", "is not a valid name"),  # right-to-left override
    ],
)
def test_invalid_dns_labels(name, says):
    assert says in name_problem(name, "label")


@pytest.mark.parametrize("name", ["web-0", "web.shop.svc", "a" * 253, "0.1.2"])
def test_valid_subdomains(name):
    assert name_problem(name, "subdomain") is None


@pytest.mark.parametrize("name", ["web..x", ".web", "web.", "a" * 254, "web_0", "web/0", "a" * 300])
def test_invalid_subdomains(name):
    assert name_problem(name, "subdomain") is not None


def test_an_error_quotes_a_long_or_strange_value_short_and_escaped():
    assert name_problem("a" * 300, "subdomain") == (
        f"'{'a' * 60}... (300 characters)' is longer than 253 characters"
    )
    assert "\\u202e" in name_problem("web\u202eexe", "label")


@pytest.mark.parametrize("key", ["app", "app.kubernetes.io/name", "example.com/a_b-c.d", "A1"])
def test_valid_label_keys(key):
    assert label_key_problem(key) is None


@pytest.mark.parametrize("key", ["", "/app", "Example.com/app", "a/b/c", "app_", "x" * 64, "ex ample"])
def test_invalid_label_keys(key):
    assert label_key_problem(key) is not None


@pytest.mark.parametrize("value", ["", "v1", "a.b-c_d", "x" * 63])
def test_valid_label_values(value):
    assert label_value_problem("k", value) is None


def test_invalid_label_values():
    assert label_value_problem("k", "x" * 2_000_000) == "label 'k' has a value of 2,000,000 characters (at most 63)"
    assert "is not valid" in label_value_problem("k", "-v")
    assert "is not valid" in label_value_problem("k", "v\u202e")
