"""Server-side sorting, filtering and paging of in-memory rows (namespaces, pods)."""

from __future__ import annotations

from django.core.paginator import Paginator


def sort_rows(rows: list[dict], sort: str, allowed: set[str], default: str) -> tuple[list[dict], str]:
    """Rows sorted by ``sort`` (prefix ``-`` for descending); unknown keys fall back."""
    key = sort.lstrip("-")
    if key not in allowed:
        sort, key = default, default.lstrip("-")
    descending = sort.startswith("-")
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]  # always last
    present.sort(key=lambda r: r[key], reverse=descending)
    return present + missing, sort


def page_of(rows, request, per_page: int = 100):
    return Paginator(rows, per_page).get_page(request.GET.get("page"))
