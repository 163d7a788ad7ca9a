"""Edit forms show a stored URL without its secrets, like the write-only token fields.

An API URL may carry ``user:password@`` and a webhook's path is often its secret (Slack,
Teams). The form shows them masked; the masked text sent back unchanged keeps the stored
URL, and any other text replaces it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from netpol.collect.base import redact_urls


def mask_api_url(url: str) -> str:
    return redact_urls(url)


def mask_webhook_url(url: str) -> str:
    parts = urlsplit(redact_urls(url))
    if not (parts.path.strip("/") or parts.query or parts.fragment):
        return urlunsplit(parts)
    return urlunsplit((parts.scheme, parts.netloc, "/…", "", ""))


class MaskedUrlsMixin:
    """For a ModelForm: ``masked_urls = {"field": mask}``."""

    masked_urls: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, mask in self.masked_urls.items():
            stored = self._stored(name)
            if stored:
                self.initial[name] = mask(stored)

    def _stored(self, name: str) -> str:
        return (getattr(self.instance, name, "") or "") if self.instance.pk else ""

    def restore_masked_urls(self, cleaned: dict) -> None:
        """Call from ``clean()``, before the instance takes the cleaned values."""
        for name, mask in self.masked_urls.items():
            stored = self._stored(name)
            if stored and cleaned.get(name) == mask(stored):
                cleaned[name] = stored
