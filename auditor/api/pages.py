"""The "API tokens" page: a user makes, lists and revokes their own tokens.

A new key is rendered once, in the answer to the POST that made it, and never again:
only its hash is kept. Admins manage everyone's tokens in the admin.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from auditor.access import require_role
from auditor.models import ApiToken

from .tokens import api_token_create, api_token_revoke


@require_role("viewer")
def token_list(request):
    new_key = None
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name or len(name) > 100:
            error = "Give the token a name of at most 100 characters (what it is for)."
        else:
            _, new_key = api_token_create(user=request.user, name=name)
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request,
        "api/tokens.html",
        {"tokens": tokens, "new_key": new_key, "error": error},
        status=400 if error else 200,
    )


@require_POST
@require_role("viewer")
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if api_token_revoke(token=token):
        messages.success(request, f"Token {token.name} ({token.prefix}…) revoked.")
    return redirect("api:tokens")
