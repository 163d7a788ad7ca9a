"""The OpenAPI 3.1 document of the API, kept by hand beside the views.

A hand-kept dict rather than one generated from serializers: the API is a dozen read
endpoints whose answers are plain dicts (one of them the engine's own ``to_dict()``), so
writing the schema down is shorter than describing it to a generator. Objects are
closed (``additionalProperties: false``) so a field added to ``serialize`` without its
schema fails the tests (``tests/api/``), which check every answer against this document.
"""

from __future__ import annotations

from copy import deepcopy

from auditor.access import ROLES
from auditor.models import Analysis, Cluster, Report, Snapshot
from netpol.collect.kinds import KIND_TABLE
from netpol.engine import PROTOCOLS
from netpol.findings.catalogue import RULES, SEVERITIES

from .http import DEFAULT_PAGE_SIZE, MAX_NUMBER, MAX_PAGE_SIZE

VERSION = "1.0.0"
# A reach end: namespace/pod (Kubernetes names) or an address. A well-formed pod the
# snapshot does not have is a 404, like any unknown object.
ENDPOINT = {
    "type": "string",
    "anyOf": [
        {
            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
            "maxLength": 400,
        },
        {"format": "ipv4"},
        {"format": "ipv6"},
    ],
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict, *, optional: tuple[str, ...] = (), description: str = "") -> dict:
    out = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }
    if description:
        out["description"] = description
    return out


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
COUNTS = {
    "type": "object",
    "description": "Findings per severity; severities without findings may be missing.",
    "additionalProperties": {"type": "integer", "minimum": 0},
}


def _page(item: str, extra: dict | None = None) -> dict:
    return _object(
        {
            **(extra or {}),
            "count": {"type": "integer", "minimum": 0, "description": "Rows in all pages."},
            "page": {"type": "integer", "minimum": 1},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "pages": {"type": "integer", "minimum": 1},
            "next": _nullable({"type": "string", "description": "Relative URL of the next page."}),
            "previous": _nullable(
                {"type": "string", "description": "Relative URL of the previous page."}
            ),
            "results": {"type": "array", "items": _ref(item)},
        }
    )


SCHEMAS = {
    "Error": _object(
        {
            "status": INTEGER,
            "detail": {
                "type": "string",
                "description": "What is wrong, naming the parameter if one is.",
            },
            "parameter": {
                "type": "string",
                "description": "The query parameter at fault (400, or 404 for a page past the last).",
            },
        },
        optional=("parameter",),
    ),
    "Me": _object(
        {
            "username": STRING,
            "role": {"type": "string", "enum": list(ROLES)},
            "token": _object({"name": STRING, "prefix": STRING, "created_at": TIME}),
        }
    ),
    "SnapshotCounts": _object(
        {
            name: {"type": "integer", "minimum": 0}
            for name in (info.argument for info in KIND_TABLE.values())
        }
    ),
    "Snapshot": _object(
        {
            "id": INTEGER,
            "cluster": STRING,
            "status": {"type": "string", "enum": Snapshot.Status.values},
            "trigger": {"type": "string", "enum": Snapshot.Trigger.values},
            "created_at": TIME,
            "started_at": _nullable(TIME),
            "finished_at": _nullable(TIME),
            "duration_seconds": _nullable({"type": "number", "minimum": 0}),
            "error": {
                "type": "string",
                "description": "Why a failed snapshot failed; empty otherwise.",
            },
            "counts": _ref("SnapshotCounts"),
            "score": _nullable({"type": "number", "description": "0-100, once analysed."}),
            "finding_counts": _nullable(COUNTS),
            "url": STRING,
        }
    ),
    "Driver": {
        "type": "object",
        "description": "What costs the score points: a rule (its causes in every namespace, with "
        "`namespaces` and `causes` counted) or one cause (`fingerprint`, `namespace`); "
        "`points` lost, the catalogue's `title`, `severity` and `remediation`.",
        "properties": {
            "rule": STRING,
            "title": STRING,
            "severity": STRING,
            "remediation": STRING,
            "points": {"type": "number"},
            "fingerprint": STRING,
            "namespace": STRING,
            "namespaces": INTEGER,
            "causes": INTEGER,
            "pods": INTEGER,
        },
        "required": ["rule", "title", "points"],
    },
    "Headline": _object(
        {
            "score": _nullable({"type": "number"}),
            "coverage": _nullable({"type": "number", "description": "Percent, as on every page."}),
            "cis_passed": INTEGER,
            "cis_total": INTEGER,
            "reason": {"type": "string", "description": "The score in one sentence: coverage, CIS 5.3.2 "
                       "and what costs most. Empty for analyses stored before reasons were kept."},
            "drivers": {"type": "array", "items": _ref("Driver"), "description": "Points lost per rule, most first."},
            "causes": {"type": "array", "items": _ref("Driver"), "description": "The causes costing most, by fingerprint."},
            "fix_first": {"type": "array", "items": _ref("Driver")},
            "namespaces": {
                "type": "object",
                "additionalProperties": _object(
                    {"score": {"type": "number"}, "reason": STRING, "fix_first": {"type": "array", "items": _ref("Driver")}}
                ),
            },
            "docs": {"type": "string", "description": "Where the model is explained."},
        },
        description="The score and why: the same figures and words as the overview, the namespaces "
        "table and the reports.",
    ),
    "Analysis": _object(
        {
            "status": {"type": "string", "enum": Analysis.Status.values},
            "started_at": TIME,
            "finished_at": _nullable(TIME),
            "error": STRING,
            "score": _nullable({"type": "number"}),
            "finding_counts": COUNTS,
            "headline": _nullable(_ref("Headline")),
            "report": {
                "type": "object",
                "description": "The findings report less its findings, as `netaudit audit --format json` "
                "writes it: coverage (cluster and per namespace), score (and per namespace), "
                "compliance, cni, counts, errors.",
            },
        }
    ),
    "Cluster": _object(
        {
            "name": STRING,
            "description": STRING,
            "source": {
                "type": "string",
                "enum": Cluster.Source.values,
            },
            "enabled": BOOLEAN,
            "snapshot_interval": {
                "type": "integer",
                "description": "Seconds between scheduled snapshots.",
            },
            "created_at": TIME,
            "current_snapshot": _nullable(_ref("Snapshot")),
            "url": STRING,
        },
        description="A registered cluster. How it is reached (URL, token, files) is never shown.",
    ),
    "Finding": _object(
        {
            "id": INTEGER,
            "snapshot": INTEGER,
            "rule": {"type": "string", "pattern": "^NP[0-9]{3}$"},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "title": STRING,
            "message": STRING,
            "namespace": {"type": "string", "description": "Empty for cluster-wide findings."},
            "objects": {"type": "array", "items": STRING, "description": 'e.g. "Pod/shop/web-1"'},
            "fingerprint": {
                "type": "string",
                "description": "Stable across snapshots for the same problem.",
            },
            "workloads": {
                "type": "array",
                "items": STRING,
                "description": 'Every workload the cause affects, e.g. "Deployment/shop/web", sorted.',
            },
            "aliases": {
                "type": "array",
                "items": STRING,
                "description": "Fingerprints of the per-workload findings this one replaced; "
                "waivers in force on all of them waive it.",
            },
            "waived": {"type": "boolean", "description": "A waiver in force accepts it now."},
            "url": STRING,
        }
    ),
    "FindingGroup": _object(
        {
            "key": {
                "type": "string",
                "description": "The rule, or the namespace (empty: cluster-wide).",
            },
            "findings": {"type": "integer", "minimum": 0},
            "workloads": {
                "type": "integer",
                "minimum": 0,
                "description": "Affected workloads, summed.",
            },
            "counts": {**COUNTS, "description": "The group's findings per severity."},
        }
    ),
    "RuleInfo": _object(
        {
            "title": STRING,
            "category": STRING,
            "why": STRING,
            "remediation": STRING,
            "compliance": {"type": "array", "items": STRING},
        }
    ),
    "Endpoint": _object(
        {
            "kind": {"type": "string", "enum": ["pod", "ip", "node"]},
            "pod": {"type": "string", "description": "namespace/name (kind pod)"},
            "ip": {"type": "string", "description": "the address (kind ip or node)"},
            "node": {"type": "string", "description": "the node owning the address (kind node)"},
        },
        optional=("pod", "ip", "node"),
    ),
    "RuleMatch": _object(
        {
            "policy": {"type": "string", "description": "namespace/name of the NetworkPolicy"},
            "rule": {"type": "integer", "description": "index in spec.ingress or spec.egress"},
            "peer": _nullable(
                {"type": "integer", "description": "index in from/to; null: the rule lists none"}
            ),
            "port": _nullable(
                {"type": "integer", "description": "index in ports; null: the rule lists none"}
            ),
        }
    ),
    "DirectionVerdict": _object(
        {
            "direction": {"type": "string", "enum": ["egress", "ingress"]},
            "pod": STRING,
            "isolated": BOOLEAN,
            "allowed": BOOLEAN,
            "allowed_by": {"type": "array", "items": _ref("RuleMatch")},
            "isolating_policies": {"type": "array", "items": STRING},
            "reason": STRING,
            # With cluster-wide (or Calico) tiers: each tier's say in order, and which decided.
            "tiers": {"type": "array", "items": STRING},
            "decided_by": STRING,
            "depends_on": {"type": "array", "items": STRING},
            "denied_by": STRING,
        },
        optional=("tiers", "decided_by", "depends_on", "denied_by"),
    ),
    "Verdict": _object(
        {
            "cluster": STRING,
            "snapshot": {"type": "integer", "description": "The snapshot that answered."},
            "src": _ref("Endpoint"),
            "dst": _ref("Endpoint"),
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "protocol": {"type": "string", "enum": list(PROTOCOLS)},
            "allowed": BOOLEAN,
            "outcome": {"type": "string", "enum": ["allowed", "denied", "undefined", "no traffic"]},
            "reason": STRING,
            "egress": _nullable(_ref("DirectionVerdict")),
            "ingress": _nullable(_ref("DirectionVerdict")),
        },
        description="The policy engine's verdict (`Verdict.to_dict()`), with the cluster and snapshot.",
    ),
    "Report": _object(
        {
            "id": INTEGER,
            "cluster": STRING,
            "schedule": _nullable(_object({"id": INTEGER, "name": STRING})),
            "team": _nullable({"type": "string", "description": "The team its schedule targets; null: the cluster."}),
            "snapshot": _nullable({"type": "integer", "description": "The snapshot reported on."}),
            "status": {"type": "string", "enum": Report.Status.values},
            "trigger": {"type": "string", "enum": Report.Trigger.values},
            "created_at": TIME,
            "started_at": _nullable(TIME),
            "finished_at": _nullable(TIME),
            "error": STRING,
            "changed": _nullable(
                {
                    "type": "boolean",
                    "description": "Anything new, resolved or moved since "
                    "the previous report; null until built.",
                }
            ),
            "score": _nullable({"type": "number"}),
            "counts": {**COUNTS, "description": "Open (not waived) findings per severity."},
            "new_count": _nullable({"type": "integer", "minimum": 0}),
            "resolved_count": _nullable({"type": "integer", "minimum": 0}),
            "url": STRING,
        },
        description="One run of a report schedule (or a manual run).",
    ),
    "ClusterPage": _page("Cluster"),
    "SnapshotPage": _page("Snapshot"),
    "FindingPage": _page("Finding", {"cluster": STRING, "snapshot": INTEGER, "team": _nullable(STRING)}),
    "FindingGroupPage": _page(
        "FindingGroup",
        {
            "cluster": STRING,
            "snapshot": INTEGER,
            "team": _nullable(STRING),
            "by": {"type": "string", "enum": ["rule", "namespace"]},
        },
    ),
    "ReportPage": _page("Report"),
    "Team": _object(
        {
            "team": {"type": "string", "description": "The team's name; `-` for namespaces with no team."},
            "label": {"type": "string", "description": "'team NAME' or 'no team'."},
            "namespaces": {"type": "array", "items": STRING},
            "pods": {"type": "integer", "minimum": 0},
            "coverage": _nullable(
                {"type": "number", "description": "Isolated (pod, direction) pairs of its namespaces, in percent."}
            ),
            "counts": {**COUNTS, "description": "Open (not waived) findings per severity."},
            "findings": {"type": "integer", "minimum": 0, "description": "Open findings in all."},
            "findings_url": STRING,
        },
        description="One team of a snapshot: a namespace's team is the cluster's mapping, else its team label.",
    ),
    "TeamList": _object(
        {
            "cluster": STRING,
            "snapshot": INTEGER,
            "team_label": _nullable({"type": "string", "description": "The label read; null: mapping only."}),
            "mapped": {"type": "integer", "minimum": 0, "description": "Namespaces mapped in the admin."},
            "teams": {"type": "array", "items": _ref("Team")},
        },
    ),
}


# The detail shapes are the list shapes and more; closed objects do not compose with
# allOf, so the properties are merged here instead.
SCHEMAS["SnapshotDetail"] = _object(
    {
        **SCHEMAS["Snapshot"]["properties"],
        "server_version": STRING,
        "warnings": {"type": "array", "items": STRING},
        "analysis": _nullable(_ref("Analysis")),
        "findings_url": STRING,
    }
)
SCHEMAS["FindingDetail"] = _object(
    {
        **SCHEMAS["Finding"]["properties"],
        "evidence": {"type": "object"},
        "snippet": STRING,
        "warnings": {"type": "array", "items": STRING},
        "rule_info": _nullable(_ref("RuleInfo")),
    }
)

SCHEMAS["ReportDetail"] = _object(
    {
        **SCHEMAS["Report"]["properties"],
        "content": {
            "type": "object",
            "description": "The report as built (the source of its HTML, PDF, CSV and SARIF): summary, "
            "top_offenders, changes, waivers, compliance, rules and findings. Empty until complete.",
        },
    }
)


def _parameter(
    name: str, where: str, schema: dict, description: str, *, required: bool = False
) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def _list(name: str, items: dict, description: str, *, max_items: int) -> dict:
    """A comma-separated list in the query string (``?severity=high,critical``)."""
    return {
        **_parameter(
            name,
            "query",
            {"type": "array", "items": items, "minItems": 1, "maxItems": max_items},
            description,
        ),
        "style": "form",
        "explode": False,
    }


# A namespace name as the API server allows it (a DNS-1123 label).
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# The ``status`` filter of snapshot and report lists: both have these four.
STATUSES = Snapshot.Status.values

# A team is a label value or a name an admin typed: any text but a NUL byte, which
# every request refuses (auditor/middleware.py).
TEAM_NAME = {"type": "string", "maxLength": 100, "pattern": "^[^\\x00]*$"}

PARAMETERS = {
    "name": _parameter(
        "name", "path", {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}, "The cluster's name."
    ),
    "page": _parameter(
        "page",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER, "default": 1},
        "Page number; one past the last is a 404.",
    ),
    "page_size": _parameter(
        "page_size",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        "Rows per page.",
    ),
    "status": _list(
        "status",
        {"type": "string", "enum": STATUSES},
        "Only these statuses (comma-separated).",
        max_items=4,
    ),
    "snapshot": _parameter(
        "snapshot",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER},
        "A complete snapshot of the cluster; default: the current one (the newest complete).",
    ),
    "team": _parameter(
        "team",
        "query",
        TEAM_NAME,
        "Only this team's namespaces (`-`: those with no team; empty: the whole cluster); a team no "
        "namespace has is a 404.",
    ),
}

ERRORS = {
    "400": {
        "description": "A malformed or unknown parameter (named in `parameter`).",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "401": {
        "description": "No token, or an unknown or revoked one.",
        "headers": {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge."}
        },
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "403": {
        "description": "The token's user has no role.",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "404": {
        "description": "No such cluster, snapshot, finding, report or page.",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "429": {
        "description": "Too many wrong tokens from this address or for this token prefix; retry later.",
        "headers": {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        },
        "content": {"application/json": {"schema": _ref("Error")}},
    },
}


def _get(
    operation_id: str, summary: str, schema: str, parameters: list, *, description: str = ""
) -> dict:
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema)}}},
            **{code: {"$ref": f"#/components/responses/E{code}"} for code in ERRORS},
        },
    }
    if description:
        operation["description"] = description
    return {"get": operation}


def _p(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _id(what: str) -> dict:
    return _parameter("id", "path", {"type": "integer", "minimum": 1}, f"The {what}'s id.")


FINDING_PARAMETERS = [
    _p("name"),
    _p("snapshot"),
    _list(
        "severity",
        {"type": "string", "enum": list(SEVERITIES)},
        "Only these severities, e.g. critical,high.",
        max_items=5,
    ),
    _list(
        "rule",
        {"type": "string", "enum": sorted(RULES)},
        "Only these rules, e.g. NP001,NP020 (docs/findings.md).",
        max_items=len(RULES),
    ),
    _list(
        "namespace",
        {"type": "string", "minLength": 1, "maxLength": 63, "pattern": NAMESPACE_PATTERN},
        "Only findings in these namespaces (Kubernetes names: lower-case letters, digits, '-').",
        max_items=20,
    ),
    _parameter(
        "waived",
        "query",
        {"type": "boolean"},
        "true: only findings a waiver accepts now; false: only the others.",
    ),
    _p("team"),
    _p("page"),
    _p("page_size"),
]


PATHS = {
    "/api/v1/schema.json": {
        "get": {
            "operationId": "schema",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/api/v1/me": _get("me", "Who the token belongs to, and their role", "Me", []),
    "/api/v1/clusters": _get(
        "listClusters",
        "Clusters, with their current snapshot",
        "ClusterPage",
        [_p("page"), _p("page_size")],
    ),
    "/api/v1/clusters/{name}": _get("getCluster", "One cluster", "Cluster", [_p("name")]),
    "/api/v1/clusters/{name}/snapshots": _get(
        "listSnapshots",
        "The cluster's snapshots, newest first",
        "SnapshotPage",
        [
            _p("name"),
            _p("status"),
            _p("page"),
            _p("page_size"),
        ],
    ),
    "/api/v1/clusters/{name}/snapshots/{id}": _get(
        "getSnapshot",
        "One snapshot with its analysis",
        "SnapshotDetail",
        [_p("name"), _id("snapshot")],
    ),
    "/api/v1/clusters/{name}/findings": _get(
        "listFindings",
        "Findings of a snapshot, most severe first",
        "FindingPage",
        FINDING_PARAMETERS,
    ),
    "/api/v1/clusters/{name}/findings/groups": _get(
        "listFindingGroups",
        "The findings of a snapshot grouped by rule or by namespace, with counts",
        "FindingGroupPage",
        [
            _parameter(
                "by",
                "query",
                {"type": "string", "enum": ["rule", "namespace"]},
                "Group by this.",
                required=True,
            ),
            *FINDING_PARAMETERS,
        ],
        description="The same filters as listFindings; most severe groups first, then the largest.",
    ),
    "/api/v1/clusters/{name}/findings/{id}": _get(
        "getFinding",
        "One finding with its evidence and the rule's remediation",
        "FindingDetail",
        [_p("name"), _id("finding")],
    ),
    "/api/v1/clusters/{name}/reach": _get(
        "reach",
        "May this connection be opened, and which policies decide it",
        "Verdict",
        [
            _p("name"),
            _parameter(
                "from",
                "query",
                ENDPOINT,
                "Source: namespace/pod or an IP address (a pod's, a node's or outside).",
                required=True,
            ),
            _parameter(
                "to",
                "query",
                ENDPOINT,
                "Destination: namespace/pod or an IP address.",
                required=True,
            ),
            _parameter(
                "port",
                "query",
                {"type": "integer", "minimum": 1, "maximum": 65535},
                "Destination port.",
                required=True,
            ),
            _parameter(
                "protocol",
                "query",
                {"type": "string", "enum": list(PROTOCOLS), "default": "TCP"},
                "Protocol.",
            ),
            _p("snapshot"),
        ],
        description="The verdict of the policy engine, as `netaudit reach` gives it: the rules that allow "
        "the connection in each direction, or the policies that isolate a pod and allow none of it.",
    ),
    "/api/v1/clusters/{name}/reports": _get(
        "listReports",
        "The cluster's reports, newest first",
        "ReportPage",
        [
            _p("name"),
            _p("status"),
            _parameter(
                "team",
                "query",
                TEAM_NAME,
                "Only reports of schedules that target this team (empty: every report).",
            ),
            _p("page"),
            _p("page_size"),
        ],
    ),
    "/api/v1/clusters/{name}/teams": _get(
        "listTeams",
        "The teams of a snapshot: namespaces, coverage and open findings of each",
        "TeamList",
        [_p("name"), _p("snapshot"), _p("team")],
    ),
    "/api/v1/clusters/{name}/reports/{id}": _get(
        "getReport", "One report with its content", "ReportDetail", [_p("name"), _id("report")]
    ),
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Netpol Auditor API",
        "version": VERSION,
        "description": "Read-only access to clusters, snapshots, findings, reports and reach queries. "
        "Authenticate with `Authorization: Bearer <token>` (`Token <token>` also works); tokens are made "
        "in the admin or on the API tokens page and act with their user's role. See docs/api.md.",
    },
    "security": [{"token": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer", "description": "An API token, npa_…"},
        },
        "schemas": SCHEMAS,
        "parameters": {name: PARAMETERS[name] for name in PARAMETERS},
        "responses": {f"E{code}": response for code, response in ERRORS.items()},
    },
}


def openapi_document() -> dict:
    """A copy, so no caller can change the served document."""
    return deepcopy(DOCUMENT)
