"""Content-Security-Policy with a per-request nonce for the few inline scripts."""

from __future__ import annotations

import secrets

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        script_src = ["'self'", f"'nonce-{request.csp_nonce}'"]
        if settings.CYTOSCAPE_SOURCE == "cdn":
            script_src.append(settings.CYTOSCAPE_CDN_URL)
        policy = {
            "default-src": ["'self'"],
            "script-src": script_src,
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:"],
            "connect-src": ["'self'"],
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
        }
        if not request.path.startswith("/admin/"):
            # The admin ships inline scripts of its own; it keeps Django's defaults.
            response.setdefault("Content-Security-Policy", "; ".join(f"{k} {' '.join(v)}" for k, v in policy.items()))
        return response
