"""Error pages that say what went wrong; the API's errors stay JSON."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render


def bad_request(request, exception=None):
    """400, or 413 when the body was over ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    if isinstance(exception, RequestDataTooBig):
        status = 413
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = (
            f"The form sent was over the {limit / 2**20:.1f} MiB the server accepts, so none of it "
            "was read. What-if takes at most 1 MiB of pasted YAML: try fewer policies at a time."
        )
    else:
        status = 400
        message = "The request was malformed, so it was not acted on."
    if request.path.startswith("/api/"):
        return JsonResponse({"status": status, "detail": message}, status=status)
    return render(request, "400.html", {"message": message}, status=status)
