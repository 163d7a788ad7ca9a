"""Names and labels checked as the API server checks them.

An object the API server would refuse cannot be in a cluster, so a file holding one is
a mistake to report, not data to store: a 300-character name, a ``/`` in a pod name, a
2 MB label value or a right-to-left override would otherwise reach the database and
the pages. The rules are Kubernetes' own (``k8s.io/apimachinery`` validation):
DNS-1123 labels and subdomains for names, qualified names for label keys.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")

# The name rule of each kind a snapshot stores: namespaces are DNS-1123 labels; pods,
# policies, nodes and services' owners are subdomains (a Service name is a DNS-1035
# label, which every DNS-1123 label check below already bounds at 63).
NAME_RULE = {
    "Namespace": "label",
    "Pod": "subdomain",
    "NetworkPolicy": "subdomain",
    "Node": "subdomain",
    "Service": "label",
    # CRDs: the API server checks their names as subdomains.
    "ClusterNetworkPolicy": "subdomain",
    "AdminNetworkPolicy": "subdomain",
    "BaselineAdminNetworkPolicy": "subdomain",
    "CiliumNetworkPolicy": "subdomain",
    "CiliumClusterwideNetworkPolicy": "subdomain",
    "ServiceAccount": "subdomain",
    # Calico's kinds (either group); a NetworkPolicy's rule is the one above.
    "GlobalNetworkPolicy": "subdomain",
    "Tier": "subdomain",
    "NetworkSet": "subdomain",
    "GlobalNetworkSet": "subdomain",
    "StagedNetworkPolicy": "subdomain",
    "StagedGlobalNetworkPolicy": "subdomain",
    "StagedKubernetesNetworkPolicy": "subdomain",
}


def quoted(value: str) -> str:
    """The value as an error may quote it: short, control and format characters escaped."""
    text = value if len(value) <= 80 else value[:60] + f"... ({len(value):,} characters)"
    return ascii(text) if not text.isascii() or not text.isprintable() else repr(text)


def as_name(value: str) -> str:
    """An object's name for the start of an error: as it is when plain, else ``quoted``."""
    return value if len(value) <= 80 and value.isascii() and value.isprintable() else quoted(value)


def name_problem(value: str, rule: str) -> str | None:
    """Why ``value`` is not a valid name under ``rule`` ("label" or "subdomain"), or None."""
    limit, pattern = (
        (DNS1123_LABEL_MAX, _DNS1123_LABEL) if rule == "label" else (DNS1123_SUBDOMAIN_MAX, _DNS1123_SUBDOMAIN)
    )
    if len(value) > limit:
        return f"{quoted(value)} is longer than {limit} characters"
    if not pattern.match(value):
        what = "lower-case letters, digits and '-'" + (" and '.'" if rule == "subdomain" else "")
        return f"{quoted(value)} is not a valid name ({what}, starting and ending with a letter or digit)"
    return None


def label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or name_problem(prefix, "subdomain")):
        return f"label key {quoted(key)} has an invalid prefix (a DNS subdomain before '/')"
    if not name or len(name) > QUALIFIED_NAME_MAX or not _QUALIFIED_NAME.match(name):
        return (f"label key {quoted(key)} is not valid (at most {QUALIFIED_NAME_MAX} letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit)")
    return None


def label_value_problem(key: str, value: str) -> str | None:
    if len(value) > LABEL_VALUE_MAX:
        return f"label {key!r} has a value of {len(value):,} characters (at most {LABEL_VALUE_MAX})"
    if value and not _QUALIFIED_NAME.match(value):
        return (f"label {key!r} has the value {quoted(value)}, which is not valid (letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit)")
    return None


def labels_problem(labels: dict[str, str]) -> str | None:
    """The first invalid key or value of a label map, or None."""
    for key, value in labels.items():
        problem = label_key_problem(key) or label_value_problem(key, value)
        if problem:
            return problem
    return None
