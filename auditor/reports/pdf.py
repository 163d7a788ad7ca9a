"""The PDF of a report, drawn from its stored content with fpdf2.

fpdf2 is pure Python (no Pango or Cairo to install), so the PDF works wherever the app
does. Its built-in Helvetica covers Latin-1 only: ``_latin`` spells the few other
characters our texts use (dashes, ellipses) in Latin-1 and replaces the rest; an arrow
is a word ("to", "from"), which reads better than ASCII "->".

Text is left-aligned (fpdf2's ``multi_cell`` justifies by default, leaving large gaps
in lines with long names), and every coloured text is at least 4.5:1 against white.
"""

from __future__ import annotations

import re
from datetime import datetime

from fpdf import FPDF
from fpdf.fonts import FontFace

from auditor.reports.html import failing_checks
from netpol.findings.catalogue import SEVERITIES
from netpol.findings.headline import driver_text

PDF_FINDINGS_CAP = 500
PDF_NAMESPACES_CAP = 500
# The dashboard's severity hues darkened to >= 4.5:1 on white (its yellow is 2.3:1).
SEVERITY_RGB = {
    "critical": (107, 33, 168),
    "high": (176, 32, 32),
    "medium": (156, 74, 0),
    "low": (112, 88, 0),
    "info": (84, 92, 107),
}
LINK_RGB = (31, 79, 181)
MUTED_RGB = (75, 85, 101)
_SPELLED = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2265": ">=",
        "\u2264": "<=",
        "\u2022": "*",
        "\u00a0": " ",
        "\u2260": "!=",
        "\u2248": "~",
    }
)
HEAD = FontFace(emphasis="BOLD", fill_color=(232, 236, 243))


_ARROWS = ((re.compile(r"\s*\u2192\s*"), " to "), (re.compile(r"\s*\u2190\s*"), " from "))


def _latin(text) -> str:
    text = "" if text is None else str(text)
    for arrow, word in _ARROWS:
        text = arrow.sub(word, text)
    return text.translate(_SPELLED).encode("latin-1", "replace").decode("latin-1")


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M %Z").strip()


def _ratio(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


class _ReportPDF(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_title = _latin(title)
        self.set_title(self.report_title)
        self.set_creator("Netpol Auditor")
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(*MUTED_RGB)
        self.cell(0, 5, f"{self.report_title} - page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: int = 13):
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(3)
        self.set_font("Helvetica", "B", size)
        self.set_text_color(0, 0, 0)
        self.cell(0, 8, _latin(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=9)

    def para(self, text: str, size: int = 9, style: str = ""):
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, 4.6, _latin(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=9)

    def grid(
        self,
        header: list[str],
        rows: list[list],
        widths: tuple[int, ...],
        colours: dict[int, tuple] | None = None,
    ):
        self.set_font("Helvetica", size=8.5)
        with self.table(
            col_widths=widths,
            headings_style=HEAD,
            line_height=4.8,
            padding=1,
            text_align="LEFT",
            first_row_as_headings=True,
        ) as table:
            table.row([_latin(h) for h in header])
            for values in rows:
                row = table.row()
                for i, value in enumerate(values):
                    colour = (colours or {}).get(i)
                    style = None
                    if colour and value in SEVERITY_RGB:
                        style = FontFace(emphasis="BOLD", color=SEVERITY_RGB[value])
                    row.cell(_latin(value), style=style)
        self.set_font("Helvetica", size=9)


def render_pdf(content: dict, *, link: str = "") -> bytes:
    team = content.get("team")
    cluster = content["cluster"]["name"] + (f", {team['label']}" if team else "")
    schedule = content.get("schedule") or {}
    summary = content["summary"]
    snapshot = content["snapshot"]
    report_id = content.get("report_id")
    name = f"report #{report_id}" if report_id else f"report of snapshot #{snapshot['id']}"
    pdf = _ReportPDF(f"Netpol Auditor {name}: {cluster}")
    pdf.alias_nb_pages()
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(
        0, 9, _latin(f"Network policy audit: {cluster}"), align="L", new_x="LMARGIN", new_y="NEXT"
    )
    if report_id:
        pdf.para(
            name.capitalize()
            + (
                f" of schedule '{schedule.get('name')}' ({schedule.get('when')})"
                if schedule
                else ""
            )
            + f", generated {_when(content['generated_at'])}, from snapshot #{snapshot['id']} "
            f"taken {_when(snapshot['finished_at'])}.",
        )
    else:  # on demand: the snapshot is the report
        pdf.para(
            f"Report of snapshot #{snapshot['id']} taken {_when(snapshot['finished_at'])}, "
            f"generated {_when(content['generated_at'])}."
        )
    if team:
        pdf.para(
            f"This report covers {team['label']} only: {', '.join(team['namespaces']) or 'no namespace'}. "
            "Coverage, findings, compliance and changes are the team's; the score is the whole cluster's.",
            style="B",
        )
    if link:
        pdf.set_text_color(*LINK_RGB)
        pdf.para(f"Online: {link}")
        pdf.set_text_color(0, 0, 0)

    # 1. Summary
    pdf.heading("Summary")
    cov = summary["coverage"]
    counts = summary["counts"]
    score = summary["score"]
    pdf.grid(
        ["Measure", "Value"],
        [
            [
                "Score (whole cluster)" if team else "Score",
                "n/a" if score is None else f"{score:g}/100",
            ],
            [
                "Coverage",
                "-"
                if cov.get("percent") is None
                else f"{cov['percent']:g}% of pod directions isolated",
            ],
            [
                "Ingress isolated",
                f"{cov['ingress_pods']}/{cov['pods']} pods, {cov['ingress_workloads']}/{cov['workloads']} workloads",
            ],
            [
                "Egress isolated",
                f"{cov['egress_pods']}/{cov['pods']} pods, {cov['egress_workloads']}/{cov['workloads']} workloads",
            ],
            [
                "Open findings",
                ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts.get(s)) or "none",
            ],
            ["Waived findings", str(summary["waived"])],
            [
                "Compliance checks passing",
                f"{summary['compliance']['pass']} of {summary['compliance']['total']}",
            ],
            [
                "Network plugin",
                f"{', '.join(summary['cni']['plugins']) or 'not identified'} ({summary['cni']['status']})",
            ],
            [
                "Snapshot",
                f"{snapshot['namespaces']} namespaces, {snapshot['pods']} pods, "
                + snapshot.get("policies_text", f"{snapshot['policies']} policies"),
            ],
        ],
        (55, 125),
    )
    headline = summary.get("headline") or {}
    if headline.get("reason"):
        pdf.para(f"Why: {headline['reason']}")
        for d in headline["fix_first"]:
            pdf.para(f"Fix first: {driver_text(d)}. {d['remediation']}")
        pdf.para(f"How the score is computed: {headline['docs']}")
    if summary["cni"].get("warning"):
        pdf.para(f"WARNING: {summary['cni']['warning']}", style="B")
    if summary.get("namespaces_without_policy"):
        pdf.para(
            "Namespaces without any NetworkPolicy: "
            + ", ".join(summary["namespaces_without_policy"])
        )

    # 2. Changes
    changes = content["changes"]
    baseline = changes.get("baseline")
    if baseline is None:
        pdf.heading("What changed")
        pdf.para(
            "This is the first report and there is no earlier analysed snapshot: nothing to compare with yet."
        )
    else:
        since = (
            f"report #{baseline['report_id']}"
            if baseline["kind"] == "report"
            else f"snapshot #{baseline['snapshot_id']}"
        )
        pdf.heading(f"What changed since {since} ({_when(baseline['at'])})")
        lines = [
            ["New findings", str(changes["new_count"])],
            ["Resolved findings", str(changes["resolved_count"])],
        ]
        if changes.get("score"):
            s = changes["score"]
            lines.append(["Score", f"{s['old']:g} to {s['new']:g} ({s['change']:+g})"])
        if "percent" in changes["coverage"]:
            c = changes["coverage"]["percent"]
            lines.append(["Coverage", f"{c['old']:g}% to {c['new']:g}% ({c['change']:+g} points)"])
        policies = changes.get("policies")
        if policies:
            lines.append(
                [
                    "Policies",
                    f"{len(policies['added'])} added, {len(policies['removed'])} removed, {len(policies['changed'])} changed",
                ]
            )
        pdf.grid(["Change", "Value"], lines, (55, 125))
        if not changes["changed"]:
            pdf.para("Nothing changed: no finding is new or resolved and coverage did not move.")
        for title, items in (
            ("New findings", changes["new"]),
            ("Resolved findings", changes["resolved"]),
        ):
            if items:
                pdf.heading(title, size=11)
                pdf.grid(
                    ["Severity", "Rule", "Finding", "Namespace / objects"],
                    [
                        [
                            f["severity"],
                            f["rule"],
                            f["title"],
                            f["namespace"] or ", ".join(f["objects"][:2]),
                        ]
                        for f in items
                    ],
                    (20, 16, 84, 60),
                    colours={0: True},
                )
        if policies:
            for key, label in (
                ("newly_exposed", "Newly exposed to external addresses"),
                ("newly_uncovered", "Newly uncovered"),
            ):
                if policies[key]:
                    pdf.para(f"{label}: " + ", ".join(policies[key][:40]))

    # 3. Findings by severity and top offenders
    pdf.heading("Findings by severity")
    pdf.grid(
        ["Severity", "Open", "Share"],
        [
            [
                s,
                str(counts.get(s, 0)),
                f"{100 * counts.get(s, 0) / summary['open']:.0f}%" if summary["open"] else "-",
            ]
            for s in SEVERITIES
        ],
        (40, 30, 30),
        colours={0: True},
    )
    offenders = content["top_offenders"]
    pdf.heading("Top offenders (open critical and high findings)")
    if offenders["namespaces"]:
        pdf.grid(
            ["Namespace", "Critical", "High", "All open"],
            [
                [o["namespace"], str(o["critical"]), str(o["high"]), str(o["total"])]
                for o in offenders["namespaces"]
            ],
            (80, 30, 30, 40),
        )
    else:
        pdf.para("No namespace has an open critical or high finding.")
    if offenders["workloads"]:
        pdf.ln(2)
        pdf.grid(
            ["Workload", "Critical + high", "All open"],
            [
                [o["workload"], str(o["high_or_above"]), str(o["total"])]
                for o in offenders["workloads"]
            ],
            (110, 35, 35),
        )

    # Failing compliance checks and the namespaces table
    failing = failing_checks(content)
    pdf.heading(
        f"Failing compliance checks ({len(failing)} of {len(content.get('compliance') or [])})"
    )
    if failing:
        pdf.grid(
            ["Namespace", "Control", "Evidence"],
            [[k["namespace"] or "(cluster)", k["control"], k["evidence"]] for k in failing],
            (40, 30, 110),
        )
    else:
        pdf.para("Every compliance check passes.")
    rows = content.get("namespaces")  # absent from reports made before the table
    if rows:
        pdf.heading(f"Namespaces ({len(rows)})")
        if len(rows) > PDF_NAMESPACES_CAP:
            # 2,000 rows are 50 pages and half the PDF's build time; the worst matter most.
            rows = sorted(rows, key=lambda n: (n["score"] is None, n["score"], n["namespace"]))
            rows = rows[:PDF_NAMESPACES_CAP]
            pdf.para(
                f"The {PDF_NAMESPACES_CAP} lowest scores of {len(content['namespaces'])} namespaces; "
                "every namespace is in the HTML and JSON report."
            )
        pdf.grid(
            [
                "Namespace",
                "Score",
                "Pods",
                "Isolated in",
                "Isolated out",
                *(s.capitalize() for s in SEVERITIES),
            ],
            [
                [
                    n["namespace"],
                    "-" if n["score"] is None else f"{n['score']:g}",
                    str(n["pods"]),
                    str(n["ingress_pods"]),
                    str(n["egress_pods"]),
                    *(str(n["counts"].get(s, 0)) for s in SEVERITIES),
                ]
                for n in rows
            ],
            (44, 14, 13, 17, 17, 15, 15, 15, 15, 15),
        )

    # 4. Waivers
    waivers = content["waivers"]
    pdf.heading("Waivers")
    if waivers["active"]:
        pdf.grid(
            ["Rule", "Finding", "Reason", "By", "Expires"],
            [
                [
                    w["rule"],
                    w["summary"],
                    w["reason"],
                    w["author"] or "-",
                    w["expires_at"][:10] + (" (soon)" if w["expires_soon"] else ""),
                ]
                for w in waivers["active"]
            ],
            (14, 62, 60, 20, 24),
        )
    else:
        pdf.para("No waiver is in force.")
    if waivers["expired"]:
        pdf.heading(f"Ended in the last {waivers['lapsed_window_days']} days", size=11)
        pdf.grid(
            ["Rule", "Finding", "Reason", "Ended"],
            [
                [
                    w["rule"],
                    w["summary"],
                    w["reason"],
                    f"{w['ended']} {(w['revoked_at'] or w['expires_at'])[:10]}",
                ]
                for w in waivers["expired"]
            ],
            (14, 70, 66, 30),
        )

    # 5. Findings
    findings = [f for f in content["findings"] if not f["waived"]]
    pdf.heading(f"Open findings ({len(findings)})")
    for f in findings[:PDF_FINDINGS_CAP]:
        if pdf.get_y() > pdf.h - 35:
            pdf.add_page()
        pdf.set_text_color(*SEVERITY_RGB[f["severity"]])
        pdf.para(f"[{f['severity'].upper()}] {f['rule']} {f['title']}", size=9.5, style="B")
        pdf.set_text_color(0, 0, 0)
        pdf.para(f["message"])
        objects = f["objects"]
        shown = ", ".join(objects[:8]) + (
            f" and {len(objects) - 8} more" if len(objects) > 8 else ""
        )
        pdf.set_text_color(*MUTED_RGB)
        pdf.para(f"Objects: {shown}", size=8)
        remediation = (content.get("rules") or {}).get(f["rule"], {}).get("remediation")
        if remediation:
            pdf.para(f"Fix: {remediation}", size=8)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1.5)
    if len(findings) > PDF_FINDINGS_CAP:
        pdf.para(
            f"... and {len(findings) - PDF_FINDINGS_CAP} more: see the CSV or JSON export.",
            style="B",
        )
    return bytes(pdf.output())
