"""A local HTTP server that answers the Kubernetes list API like a real apiserver.

It serves all-namespaces lists of the kinds a snapshot collects, with ``limit`` and
``continue`` pagination, bearer-token auth and real ``Status`` error bodies, so the
live collector can be tested through the official client without a cluster.

    with FakeKube({"Pod": pods}) as kube:
        path = kube.write_kubeconfig(tmp_path / "kubeconfig")
        kube.forbid("Service")
        ...
        assert ("GET", "/api/v1/pods", {"limit": "2"}) in kube.requests

Each page is serialised when it is asked for, so a benchmark can serve 50,000 pods;
``Generated`` builds objects on demand so they need not be held in memory at all.

Faults (``forbid``, ``fail``, ``delay``, ``drop_connection``, ``expire_continue_once``)
can be set from the test thread while the server runs.
"""

from __future__ import annotations

import base64
import binascii
import http
import itertools
import json
import socket
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml

from netpol.collect.kinds import CALICO_API_VERSIONS, KIND_TABLE

# kind (KIND_TABLE key) -> (URL path of its all-namespaces list, resource name, API group,
# List apiVersion), where served by default (Calico's kinds: see ``calico``).
ENDPOINTS = {k: (info.path, info.plural, info.group, info.api_version) for k, info in KIND_TABLE.items()}
# Calico's CRDs (crd.projectcalico.org/v1) are what a cluster with Calico serves; its
# aggregated API server adds projectcalico.org/v3 with the same objects.
CALICO_CRDS = ("crd.projectcalico.org/v1",)

GIT_VERSION = "v1.30.2"


class Generated(Sequence):
    """``count`` objects made on demand by ``make(index)``: nothing is kept in memory.

    ``make`` must be deterministic, because a page may be served more than once.
    """

    def __init__(self, count: int, make: Callable[[int], dict]):
        self.count = count
        self.make = make

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.make(i) for i in range(*index.indices(self.count))]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.make(index)


def status_body(code: int, reason: str, message: str) -> dict:
    """The ``Status`` object the apiserver sends with every error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeKube:
    """A threaded fake apiserver on 127.0.0.1; use it as a context manager.

    ``objects`` maps a kind to a list of API objects (or any ``Sequence``, such as
    ``Generated``). ``token=None`` turns authentication off.
    """

    def __init__(
        self,
        objects: dict[str, Sequence[dict]] | None = None,
        token: str | None = "test-token",
        *,
        calico: Sequence[str] = CALICO_CRDS,
    ):
        """``calico``: the group/versions serving Calico's kinds (of
        ``kinds.CALICO_API_VERSIONS``), each with the same objects; () serves none."""
        unknown = set(objects or ()) - set(ENDPOINTS)
        if unknown:
            raise ValueError(f"FakeKube serves {sorted(ENDPOINTS)}, not {sorted(unknown)}")
        if not set(calico) <= set(CALICO_API_VERSIONS):
            raise ValueError(f"calico: {sorted(calico)} not in {CALICO_API_VERSIONS}")
        # URL path -> (kind, API group, List apiVersion), every one served.
        self._served: dict[str, tuple[str, str, str]] = {}
        for kind, info in KIND_TABLE.items():
            versions = (
                [tuple(v.split("/")) for v in calico]
                if set(info.api_versions) == set(CALICO_API_VERSIONS)
                else [(info.group, info.version)]
            )
            for group, version in versions:
                api_version = f"{group}/{version}" if group else version
                self._served[info.path_in(group, version)] = (kind, group, api_version)
        self.token = token
        self._lock = threading.Lock()
        self._objects: dict[str, Sequence[dict]] = {kind: [] for kind in ENDPOINTS}
        self._objects.update(objects or {})
        # Bumped whenever a kind's objects change: continue tokens from an older
        # version are answered with 410 Gone, as etcd does after a compaction.
        self._versions = itertools.count(1000)
        self._version = {kind: next(self._versions) for kind in ENDPOINTS}
        self._requests: list[tuple[str, str, dict[str, str]]] = []
        self._forbidden: dict[str, str] = {}
        self._failures: dict[str, list] = {}  # kind -> [status, times left]
        self._delays: dict[str, list] = {}  # kind -> [seconds, times left or None]
        self._drops: dict[str, list] = {}  # kind -> ["silent" or "mid-body", times left]
        self._expire_once: set[str] = set()
        self._expire_always: set[str] = set()
        self._retry_after: dict[str, str] = {}  # kind -> Retry-After header of its failures
        self._hidden_groups: set[str] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> FakeKube:
        handler = type("Handler", (_Handler,), {"kube": self})
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: stop() waits for the loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="fakekube", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes delayed handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(
        self, path: str | Path, *, context: str = "fake", token: str | None = None
    ) -> Path:
        """Write a kubeconfig whose current context points at this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": f"{context}-cluster", "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": token or self.token or ""}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": f"{context}-cluster", "user": f"{context}-user"},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- state the tests read and change ---------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every request so far as ``(method, path, query)``, oldest first."""
        with self._lock:
            return list(self._requests)

    def set_objects(self, kind: str, objects: Sequence[dict]) -> None:
        """Replace a kind's objects; lists of it already under way expire (410)."""
        with self._lock:
            self._objects[kind] = objects
            self._version[kind] = next(self._versions)

    def hide_group(self, group: str) -> None:
        """Serve the cluster as one without this API group (absent from /apis, 404)."""
        with self._lock:
            self._hidden_groups.add(group)

    def _discovery(self) -> dict:
        """The APIGroupList of ``/apis``: every non-core group served, less the hidden ones."""
        versions: dict[str, set[str]] = {}
        for _kind, group, api_version in self._served.values():
            if group and group not in self._hidden_groups:
                versions.setdefault(group, set()).add(api_version)
        groups = []
        for group, group_versions in sorted(versions.items()):
            listed = [
                {"groupVersion": v, "version": v.split("/")[1]} for v in sorted(group_versions)
            ]
            groups.append({"name": group, "versions": listed, "preferredVersion": listed[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def forbid(self, kind: str, user: str = "system:serviceaccount:x:y") -> None:
        """Answer every list of ``kind`` with 403, as RBAC does."""
        with self._lock:
            self._forbidden[kind] = user

    def fail(self, kind: str, status: int = 500, times: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next ``times`` lists of ``kind`` with ``status`` (and a Retry-After header)."""
        with self._lock:
            self._failures[kind] = [status, times]
            if retry_after is None:
                self._retry_after.pop(kind, None)
            else:
                self._retry_after[kind] = retry_after

    def delay(self, kind: str, seconds: float, times: int | None = None) -> None:
        """Wait ``seconds`` before answering the next ``times`` lists (None: all)."""
        with self._lock:
            self._delays[kind] = [seconds, times]

    def drop_connection(self, kind: str, times: int = 1, *, mid_body: bool = False) -> None:
        """Close the socket on the next ``times`` lists, silently or halfway through the body."""
        with self._lock:
            self._drops[kind] = ["mid-body" if mid_body else "silent", times]

    def expire_continue_once(self, kind: str) -> None:
        """Answer the next list of ``kind`` that carries a continue token with 410 Gone."""
        with self._lock:
            self._expire_once.add(kind)

    def expire_continue_always(self, kind: str) -> None:
        """Answer every list of ``kind`` that carries a continue token with 410 Gone, as
        when etcd compacts faster than the pages arrive."""
        with self._lock:
            self._expire_always.add(kind)

    # -- answering, called from handler threads ---------------------------------------

    def _take(self, faults: dict[str, list], kind: str):
        """The fault armed for ``kind``, counting one use; None when there is none."""
        with self._lock:
            fault = faults.get(kind)
            if fault is None:
                return None
            if fault[1] is not None:
                fault[1] -= 1
                if fault[1] <= 0:
                    del faults[kind]
            return fault[0]

    def _list_page(self, path: str, query: dict[str, str]) -> tuple[int, dict]:
        kind, group, api_version = self._served[path]
        resource = KIND_TABLE[kind].plural
        with self._lock:
            objects = self._objects[kind]
            version = self._version[kind]
            user = self._forbidden.get(kind)
            expire = "continue" in query and (kind in self._expire_once or kind in self._expire_always)
            if expire:
                self._expire_once.discard(kind)
        if user is not None:
            message = (
                f'{resource} is forbidden: User "{user}" cannot list resource "{resource}" '
                f'in API group "{group}" at the cluster scope'
            )
            return 403, status_body(403, "Forbidden", message)
        if (status := self._take(self._failures, kind)) is not None:
            phrase = http.HTTPStatus(status).phrase
            reason = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}.get(
                status, phrase
            )
            body = status_body(status, reason, f"fake failure: {phrase}")
            if kind in self._retry_after:
                body["_retry_after"] = self._retry_after[kind]  # taken off into a header
            return status, body

        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return 400, status_body(400, "BadRequest", f"invalid limit {query['limit']!r}")
        start = 0
        if "continue" in query:
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"]))
                start, token_version, token_path = token["start"], token["rv"], token["path"]
            except (binascii.Error, ValueError, KeyError, TypeError):
                return 400, status_body(400, "BadRequest", "continue key is not valid")
            if token_path != path:
                return 400, status_body(
                    400, "BadRequest", "continue key is not valid for this resource"
                )
            if expire or token_version != version:
                message = (
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
                return 410, status_body(410, "Expired", message)

        total = len(objects)
        stop = min(total, start + limit) if limit > 0 else total
        metadata: dict = {"resourceVersion": str(version)}
        if stop < total:
            token = {"v": "meta.k8s.io/v1", "rv": version, "start": stop, "path": path}
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            metadata["remainingItemCount"] = total - stop
        items = objects[start:stop]
        if api_version in CALICO_API_VERSIONS:  # one set of objects, seen through each group
            items = [{**obj, "apiVersion": api_version} for obj in items]
        return 200, {
            "kind": f"{KIND_TABLE[kind].kind}List",
            "apiVersion": api_version,
            "metadata": metadata,
            "items": items,
        }


class _Handler(BaseHTTPRequestHandler):
    kube: FakeKube  # set on the per-server subclass
    protocol_version = "HTTP/1.1"  # keep-alive, like the real apiserver
    # Headers and body go out in two writes; with Nagle on, each answer waits ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format, *args) -> None:
        pass  # the request log is kube.requests; stderr noise would hide test output

    def do_GET(self) -> None:
        kube = self.kube
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with kube._lock:
            kube._requests.append(("GET", parts.path, query))

        if kube.token is not None and self.headers.get("Authorization") != f"Bearer {kube.token}":
            self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
            return
        if parts.path in ("/version", "/version/"):  # the Python client asks for "/version/"
            self._send(
                200,
                {"major": "1", "minor": "30", "gitVersion": GIT_VERSION, "platform": "linux/amd64"},
            )
            return
        if parts.path in ("/apis", "/apis/"):
            self._send(200, kube._discovery())
            return
        served = kube._served.get(parts.path)
        kind = served[0] if served is not None else None
        if served is not None and served[1] in kube._hidden_groups:
            kind = None  # as a cluster without that API
        if kind is None:
            message = "the server could not find the requested resource"
            self._send(404, status_body(404, "NotFound", message))
            return

        if (seconds := kube._take(kube._delays, kind)) is not None:
            if kube._stopping.wait(seconds):
                return
        drop = kube._take(kube._drops, kind)
        if drop == "silent":
            self._drop()
            return
        status, body = kube._list_page(parts.path, query)
        retry_after = body.pop("_retry_after", None)
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._send(status, body, cut_short=drop == "mid-body", headers=headers)

    def _send(self, status: int, body: dict, *, cut_short: bool = False, headers=None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if cut_short:
                self.wfile.write(data[: len(data) // 2])
                self._drop()
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (read timeout) while we were slow on purpose.
            self.close_connection = True

    def _drop(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
