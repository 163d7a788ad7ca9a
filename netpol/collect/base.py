"""What every collector shares: the error type and the backend protocol (kinds: ``kinds``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

# The user-information part of a URL ("user:password@"), wherever a URL appears in a text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")


def redact_urls(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ``***``.

    A kubeconfig or an API URL may carry ``https://user:password@host``; nothing that is
    stored, shown or logged may repeat it.
    """
    return _USERINFO.sub(r"\1***@", text)


class CollectionError(Exception):
    """A failure the user can act on. The message names what failed and where, and
    never the credentials of a URL."""

    def __init__(self, message: str = ""):
        super().__init__(redact_urls(str(message)))


class Collector(Protocol):
    """A collection backend.

    ``fetch()`` yields ``(kind, obj)`` with ``kind`` in ``KINDS`` (the kinds table's key:
    the kind, or ``projectcalico.org/<Kind>`` for Calico's) and ``obj`` the raw API
    object as JSON-decoded dict. It raises ``CollectionError`` with a message that
    names the file/document or the API verb/resource at fault. After ``fetch()`` is
    exhausted, ``server_version`` and ``warnings`` describe the run.

    ``(kind, None)`` means the list of ``kind`` restarted from the beginning (the API
    answered 410 Gone to a continue token): the consumer forgets what it received of
    that kind so far.
    """

    # Constructor parameters that must never reach logs, pages or error texts.
    sensitive_parameters: tuple[str, ...]
    server_version: str
    warnings: list[str]

    def fetch(self) -> Iterator[tuple[str, dict]]: ...
