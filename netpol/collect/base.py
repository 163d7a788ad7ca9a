"""What every collector shares: the error type and the backend protocol (kinds: ``kinds``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class CollectionError(Exception):
    """A failure the user can act on. The message names what failed and where."""


class Collector(Protocol):
    """A collection backend.

    ``fetch()`` yields ``(kind, obj)`` with ``kind`` in ``KINDS`` and ``obj`` the raw
    API object as JSON-decoded dict. It raises ``CollectionError`` with a message that
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
