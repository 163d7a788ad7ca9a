from urllib.parse import urlencode

from django.conf import settings

from auditor.access import has_role, role_of


def ui(request):
    user = getattr(request, "user", None)
    team = request.GET.get("team", "").strip() if hasattr(request, "GET") else ""
    return {
        # Navigation keeps the team filter (netpol.teams) from page to page.
        "team_param": team,
        "team_query": "?" + urlencode({"team": team}) if team else "",
        "team_query_tail": "&" + urlencode({"team": team}) if team else "",
        "role": role_of(user) if user else None,
        "can_audit": bool(user) and has_role(user, "auditor"),
        "can_admin": bool(user) and has_role(user, "admin"),
        "csp_nonce": getattr(request, "csp_nonce", ""),
        "cytoscape_source": settings.CYTOSCAPE_SOURCE,
        "cytoscape_cdn_url": settings.CYTOSCAPE_CDN_URL,
        "cytoscape_cdn_sri": settings.CYTOSCAPE_CDN_SRI,
        # The formats of a snapshot's report on demand (findings and snapshots pages).
        "report_formats": ("html", "pdf", "csv", "json", "sarif"),
    }
