import json

from django import template

register = template.Library()


@register.filter
def plain(value):
    """Evidence values as a reader writes them: lists joined, mappings as JSON."""
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


@register.filter
def count(value):
    """A whole number with thousands separators (1,234,567), as figures at 50k pods need;
    anything else unchanged."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
