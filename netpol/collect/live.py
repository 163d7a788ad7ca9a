"""The live backend: list a running cluster through the official ``kubernetes`` client.

A ``LiveCollector`` connects one of three ways:

    LiveCollector.from_kubeconfig("~/.kube/config", context="prod")
    LiveCollector.from_token("https://10.0.0.1:6443", token, ca_file="/etc/ca.crt")
    LiveCollector.from_in_cluster()   # the pod's service account

``fetch()`` lists every kind in ``KINDS`` page by page and yields each raw object; the
kinds of API groups a cluster may lack (``Kind.discovered``: the cluster-wide policies,
Cilium's and Calico's) only when the server's discovery (``/apis``) offers their group
and version: Calico's from ``projectcalico.org/v3`` when offered, else from
``crd.projectcalico.org/v1``, and ServiceAccounts only when a Calico group is offered
(its ``serviceAccountSelector`` needs them).
Pages are requested with ``_preload_content=False`` and decoded with ``json.loads``:
the client's model classes are slow and would hold the cluster in memory twice, once
as models and once as the dicts we keep. Only one page of raw JSON exists at a time.

Configuration is loaded in ``fetch()``, not in the constructor, so a broken kubeconfig
or a missing service account surfaces as a ``CollectionError`` of the run.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import (
    ApiClient,
    ApisApi,
    Configuration,
    CoreV1Api,
    CustomObjectsApi,
    NetworkingV1Api,
    VersionApi,
)
from kubernetes.client.exceptions import ApiException

from .base import CollectionError, redact_urls
from .kinds import KIND_TABLE, KINDS, OPTIONAL_KINDS

logger = logging.getLogger(__name__)

# Answers that a later attempt may not get: overload, restarts, rolling upgrades.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class _Resource:
    kind: str
    plural: str
    group: str  # "" is the core group
    path: str  # of the all-namespaces list, for error messages
    api: type
    method: str
    args: tuple = ()  # before the paging arguments: a custom resource's group, version, plural


# The kinds the typed clients list; every other kind is a custom object.
_TYPED = {
    "Namespace": (CoreV1Api, "list_namespace"),
    "Node": (CoreV1Api, "list_node"),
    "Pod": (CoreV1Api, "list_pod_for_all_namespaces"),
    "NetworkPolicy": (NetworkingV1Api, "list_network_policy_for_all_namespaces"),
    "Service": (CoreV1Api, "list_service_for_all_namespaces"),
    "ServiceAccount": (CoreV1Api, "list_service_account_for_all_namespaces"),
}
assert all(KIND_TABLE[k].group in ("", "networking.k8s.io") for k in _TYPED)


def _resource(key: str, group: str, version: str) -> _Resource:
    """How to list the kind ``key`` in one of the (group, version)s serving it."""
    info = KIND_TABLE[key]
    path = info.path_in(group, version)
    if key in _TYPED:
        api, method = _TYPED[key]
        return _Resource(key, info.plural, group, path, api, method)
    return _Resource(
        key,
        info.plural,
        group,
        path,
        CustomObjectsApi,
        "list_cluster_custom_object",
        (group, version, info.plural),
    )


class LiveCollector:
    """Collects from a live API server.

    Build one with ``from_kubeconfig``, ``from_token`` or ``from_in_cluster``. Their
    ``options`` tune the run, with these defaults: ``page_size=500``,
    ``connect_timeout=10.0`` and ``read_timeout=60.0`` seconds, ``attempts=4`` per
    request (the first included), ``backoff=0.5`` seconds before the first retry and
    twice as long before each next one (or what a 429/503's ``Retry-After`` asks, up to
    the read timeout), ``max_restarts=3`` list restarts per kind after an expired
    continue token before one unpaged list.
    """

    sensitive_parameters = ("token",)

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike, *, context: str | None = None, **options
    ) -> LiveCollector:
        """Use a kubeconfig file, with its current context unless ``context`` is given."""
        return cls(kubeconfig=path, context=context, **options)

    @classmethod
    def from_token(
        cls,
        url: str,
        token: str | None,
        *,
        ca_file: str | os.PathLike | None = None,
        verify_tls: bool = True,
        **options,
    ) -> LiveCollector:
        """Use an API URL and a bearer token; ``ca_file`` verifies a private CA."""
        return cls(url=url, token=token, ca_file=ca_file, verify_tls=verify_tls, **options)

    @classmethod
    def from_in_cluster(cls, **options) -> LiveCollector:
        """Use the service account of the pod this runs in."""
        return cls(in_cluster=True, **options)

    def __init__(
        self,
        *,
        kubeconfig: str | os.PathLike | None = None,
        context: str | None = None,
        url: str | None = None,
        token: str | None = None,
        ca_file: str | os.PathLike | None = None,
        verify_tls: bool = True,
        in_cluster: bool = False,
        page_size: int = 500,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        attempts: int = 4,
        backoff: float = 0.5,
        max_restarts: int = 3,
    ):
        """Prefer the ``from_*`` constructors; this one checks that exactly one source is given."""
        sources = [
            name
            for name, given in (
                ("kubeconfig", kubeconfig is not None),
                ("url", url is not None),
                ("in_cluster", in_cluster),
            )
            if given
        ]
        if len(sources) != 1:
            raise ValueError(f"give exactly one of kubeconfig, url or in_cluster, not {sources}")
        if context is not None and kubeconfig is None:
            raise ValueError("context only applies to a kubeconfig")
        if url is None and (token is not None or ca_file is not None or not verify_tls):
            raise ValueError("token, ca_file and verify_tls only apply to a url")
        if page_size < 1 or attempts < 1 or max_restarts < 0:
            raise ValueError("page_size and attempts must be at least 1, max_restarts at least 0")
        # Checked in fetch(), so that a bad path or URL fails the run with a CollectionError.
        self.kubeconfig = os.fspath(kubeconfig) if kubeconfig is not None else None
        self.context = context
        self.url = url.rstrip("/") if url is not None else None
        self._token = token
        self.ca_file = os.fspath(ca_file) if ca_file is not None else None
        self.verify_tls = verify_tls
        self.in_cluster = in_cluster
        self.page_size = page_size
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.attempts = attempts
        self.backoff = backoff
        self.max_restarts = max_restarts

        self.server_version = ""
        self.warnings: list[str] = []
        self._configuration: Configuration | None = None

    def __repr__(self) -> str:
        if self.kubeconfig is not None:
            return f"LiveCollector(kubeconfig={self.kubeconfig!r}, context={self.context!r})"
        if self.url is not None:
            return f"LiveCollector(url={redact_urls(self.url)!r}, token={'***' if self._token else None})"
        return "LiveCollector(in_cluster=True)"

    # -- fetch --------------------------------------------------------------------------

    def fetch(self) -> Iterator[tuple[str, dict | None]]:
        self.server_version = ""
        self.warnings = []
        try:
            with ApiClient(self._load_configuration()) as api_client:
                self.server_version = self._read_version(api_client)
                offered = self._offered_versions(api_client)
                for kind in KINDS:
                    served = KIND_TABLE[kind].served_from(offered)
                    if served is None:
                        continue  # the cluster has no such API: nothing to list, nothing wrong
                    yield from self._list(api_client, _resource(kind, *served))
        except CollectionError as exc:
            # The one exit for our errors: hide secrets, and drop the chained client
            # exception, whose text nobody has checked for them.
            raise CollectionError(self._scrub(str(exc))) from None

    def _read_version(self, api_client: ApiClient) -> str:
        get_code = VersionApi(api_client).get_code
        try:
            body = self._get(
                partial(get_code, _preload_content=False, _request_timeout=self.timeout),
                action="reading the server version",
                path="/version",
            )
        except ApiException as exc:
            if exc.status in (403, 404):
                # Some clusters hide /version; the snapshot is still complete without it.
                self.warnings.append(f"could not read the server version: {_server_message(exc)}")
                return ""
            raise self._refused(exc, action="reading the server version", path="/version") from None
        return str(body.get("gitVersion") or "")

    def _offered_versions(self, api_client: ApiClient) -> set[str]:
        """The ``group/version``s the server's discovery (``/apis``) offers, if a kind needs it."""
        if not any(info.discovered for info in KIND_TABLE.values()):
            return set()
        get_versions = ApisApi(api_client).get_api_versions
        try:
            body = self._get(
                partial(get_versions, _preload_content=False, _request_timeout=self.timeout),
                action="reading the API groups",
                path="/apis",
            )
        except ApiException as exc:
            if exc.status in (403, 404):
                # Without discovery the optional groups are not listed; say so.
                kinds = ", ".join(k for k, info in KIND_TABLE.items() if info.discovered)
                self.warnings.append(
                    f"could not read the API groups (/apis), so {kinds} were not listed: "
                    f"{_server_message(exc)}"
                )
                return set()
            raise self._refused(exc, action="reading the API groups", path="/apis") from None
        return {
            str(version.get("groupVersion") or "")
            for group in body.get("groups") or ()
            for version in group.get("versions") or ()
        }

    def _list(
        self, api_client: ApiClient, resource: _Resource
    ) -> Iterator[tuple[str, dict | None]]:
        """Yield every object of one kind, a page at a time.

        1. Ask for ``page_size`` objects, then follow ``metadata.continue`` until it is empty.
        2. On 410 Gone the continue token expired: yield the restart marker and start over;
           after ``max_restarts`` of them, list once more without ``limit`` (one answer).
        3. An optional kind the identity may not list (403) or the server lacks (404)
           is skipped with a warning, after retracting any part already yielded.
        """
        list_page = partial(getattr(resource.api(api_client), resource.method), *resource.args)
        action = f"listing {resource.plural}"
        restarts = 0
        continue_token = None
        yielded = False
        paged = True
        while True:
            try:
                page = self._get(
                    partial(
                        list_page,
                        limit=self.page_size if paged else None,
                        _continue=continue_token,
                        _preload_content=False,
                        _request_timeout=self.timeout,
                    ),
                    action=action,
                    path=resource.path,
                )
            except ApiException as exc:
                if exc.status == 410 and continue_token is not None:
                    restarts += 1
                    if restarts > self.max_restarts:
                        # As client-go's pager does: the pages keep expiring (etcd compacts
                        # faster than they arrive), so read the whole list in one answer.
                        paged = False
                        self.warnings.append(
                            f"the list of {resource.plural} expired (410 Gone) {restarts} times "
                            "while paging; it was read in one request without paging"
                        )
                    logger.warning(
                        "%s: continue token expired, listing again from the start%s",
                        action, "" if paged else " without paging",
                    )
                    yield resource.kind, None
                    continue_token, yielded = None, False
                    continue
                refusal = self._refused(exc, action=action, path=resource.path, resource=resource)
                if exc.status in (403, 404) and resource.kind in OPTIONAL_KINDS:
                    what = resource.plural
                    info = KIND_TABLE[resource.kind]
                    if info.discovered:  # name the kind and its group
                        what = f"{info.kind} ({resource.group or 'core'})"
                    self.warnings.append(f"skipped {what}: {refusal}")
                    if yielded:
                        yield resource.kind, None
                    return
                raise refusal from None

            continue_token = (page.get("metadata") or {}).get("continue") or None
            items = page.get("items") or []
            del page
            for obj in items:
                yield resource.kind, obj
            yielded = yielded or bool(items)
            del items  # before the next page arrives
            if continue_token is None:
                return

    # -- one request ----------------------------------------------------------------------

    def _get(self, call: Callable[[], urllib3.HTTPResponse], *, action: str, path: str) -> dict:
        """Make one GET, retrying what may pass; return the decoded JSON body.

        Raises ``ApiException`` for answers a retry cannot change (401, 403, 404, 410...)
        so the caller can decide what they mean, and ``CollectionError`` when the server
        cannot be reached or keeps failing.
        """
        host = redact_urls(self._configuration.host)
        last_error = ""
        for attempt in range(1, self.attempts + 1):
            asked = None
            try:
                response = call()
                try:
                    # read() rather than .data: .data would keep a second copy cached.
                    body = response.read()
                finally:
                    response.release_conn()
            except ApiException as exc:
                if exc.status == 0:  # the client's wrapping of a TLS failure
                    reason = str(exc.reason).replace("\n", ": ")
                    raise CollectionError(
                        f"TLS with the API server {host} failed while {action}: {reason}; "
                        f"check the CA certificate and the server name"
                    ) from None
                if exc.status not in RETRY_STATUSES:
                    raise
                last_error = f"{exc.status} {exc.reason}: {_server_message(exc)}"
                asked = _retry_after(exc)
            except urllib3.exceptions.NameResolutionError:
                raise CollectionError(
                    f"cannot resolve the API server host {urlsplit(host).hostname!r} while {action}"
                ) from None
            except urllib3.exceptions.HTTPError as exc:
                # Refused or dropped connections and timeouts: the server may be restarting.
                last_error = self._describe(exc)
            else:
                try:
                    return json.loads(body)
                except ValueError:
                    raise CollectionError(
                        f"the API server {host} answered GET {path} with a body that is not JSON "
                        f"while {action}"
                    ) from None
            if attempt < self.attempts:
                wait = self.backoff * 2 ** (attempt - 1)
                if asked is not None:
                    # The server says when it can answer; sooner is wasted, much later is
                    # not worth blocking the snapshot for.
                    wait = max(wait, min(asked, self.timeout[1]))
                logger.warning(
                    "%s: GET %s failed (%s), retrying in %.2f s (attempt %d of %d)",
                    action,
                    path,
                    self._scrub(last_error),
                    wait,
                    attempt,
                    self.attempts,
                )
                time.sleep(wait)
        raise CollectionError(
            f"gave up {action}: GET {path} on the API server {host} failed {self.attempts} times; "
            f"last error: {last_error}"
        )

    def _describe(self, exc: urllib3.exceptions.HTTPError) -> str:
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            return f"no answer within the read timeout of {self.timeout[1]:g} s"
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return f"cannot connect: {exc}"
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            return f"no connection within the connect timeout of {self.timeout[0]:g} s"
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return f"the connection broke: {exc.args[0]}"
        return f"{type(exc).__name__}: {exc}"

    def _refused(
        self, exc: ApiException, *, action: str, path: str, resource: _Resource | None = None
    ) -> CollectionError:
        """The error for an answer that retrying will not change."""
        said = _server_message(exc)
        if exc.status == 401:
            return CollectionError(
                f"the API server rejected the credentials (401 Unauthorized) while {action}: "
                f"check the token or kubeconfig user"
            )
        if exc.status == 403 and resource is not None:
            return CollectionError(
                f'forbidden: cannot list {resource.plural} (group "{resource.group}", cluster scope): '
                f'grant "list" on "{resource.plural}" to the identity, see deploy/rbac.yaml '
                f"(the API server said: {said})"
            )
        if exc.status == 403:
            return CollectionError(f"forbidden: cannot get {path} (the API server said: {said})")
        if exc.status == 404:
            return CollectionError(
                f"the API server {self._configuration.host} does not serve {path} "
                f"(404 Not Found) while {action}"
            )
        return CollectionError(
            f"the API server answered {exc.status} {exc.reason} to GET {path} while {action}: {said}"
        )

    # -- configuration ------------------------------------------------------------------

    def _load_configuration(self) -> Configuration:
        if self.kubeconfig is not None:
            configuration = self._from_kubeconfig()
        elif self.in_cluster:
            configuration = Configuration()
            try:
                # Into our own Configuration: the client's global default stays untouched.
                kube_config.load_incluster_config(client_configuration=configuration)
            except kube_config.ConfigException as exc:
                raise CollectionError(
                    f"in-cluster configuration is unavailable ({exc}): is this running in a pod "
                    f"with a service account token mounted?"
                ) from None
        else:
            configuration = self._from_url()
        # We retry ourselves, with backoff and a message naming what failed; urllib3's
        # own silent retries would multiply our attempts.
        configuration.retries = False
        self._configuration = configuration
        return configuration

    def _from_url(self) -> Configuration:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CollectionError(f"the API URL {self.url!r} is not an http(s)://host:port URL")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise CollectionError(f"the CA file {self.ca_file!r} does not exist")
        configuration = Configuration(host=self.url, ssl_ca_cert=self.ca_file)
        configuration.verify_ssl = self.verify_tls
        if self._token:
            configuration.api_key = {"BearerToken": self._token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration

    def _from_kubeconfig(self) -> Configuration:
        """Load the kubeconfig, first checking the context so the error can list the others."""
        if not self.kubeconfig:
            raise CollectionError("no kubeconfig path was given")
        path = Path(self.kubeconfig).expanduser()
        where = f"kubeconfig {str(path)!r}"
        try:
            document = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise CollectionError(f"{where} does not exist") from None
        except OSError as exc:
            raise CollectionError(f"{where} cannot be read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            # Not str(exc): it quotes the offending line, which may hold a token.
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            at = f" at line {line + 1}" if line is not None else ""
            raise CollectionError(f"{where} is not valid YAML{at}") from None
        if not isinstance(document, dict):
            raise CollectionError(f"{where} is not a kubeconfig (no mapping at the top)")

        available = [c.get("name") for c in document.get("contexts") or [] if isinstance(c, dict)]
        listed = ", ".join(repr(name) for name in available) or "none"
        context = self.context or document.get("current-context")
        if not context:
            raise CollectionError(
                f"{where} sets no current-context and none was given; available contexts: {listed}"
            )
        if context not in available:
            raise CollectionError(
                f"{where} has no context {context!r}; available contexts: {listed}"
            )

        configuration = Configuration()
        try:
            kube_config.load_kube_config(
                config_file=str(path),
                context=context,
                client_configuration=configuration,
                persist_config=False,  # never write refreshed credentials back into the file
            )
        except kube_config.ConfigException as exc:
            raise CollectionError(f"{where}, context {context!r}: {exc}") from None
        return configuration

    # -- secrets ------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` with every credential we know of replaced by ``***``."""
        secrets = {self._token}
        if self._configuration is not None:
            for value in self._configuration.api_key.values():
                # Kubeconfig and in-cluster loaders store "Bearer <token>".
                secrets.add(value)
                secrets.add(value.split(" ", 1)[-1])
        for secret in secrets:
            # Real tokens are long; replacing a short "test" would garble the message.
            if secret and len(secret) >= 8:
                text = text.replace(secret, "***")
        return text


def _server_message(exc: ApiException) -> str:
    """The ``message`` of the Status object the API server sent, or the body itself."""
    body = exc.body or ""
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return body[:200] or str(exc.reason)


def _retry_after(exc: ApiException) -> float | None:
    """The seconds a 429/503 answer's ``Retry-After`` asks for (a number or an HTTP date)."""
    value = (exc.headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
