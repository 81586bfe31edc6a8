"""An agency system's client under chaos: it knows every replica of a service, and tells a
call that surely did nothing (connection refused) from one whose outcome is unknown (the
connection broke after the request left, or a 5xx answer)."""

import random
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx

from shared.names import Service
from tests.local_platform import make_client

CALL_TIMEOUT_S = 15.0


class LoadError(RuntimeError):
    """A call never got an answer it could use within its time; the message says which."""


class Ambiguous(Exception):
    """The request may or may not have taken effect: reconcile before sending it again."""


class Api:
    """Calls every service as one client; thread-safe (one httpx client per thread)."""

    def __init__(
        self, urls: Callable[[str], list[str]], role: str, province: str | None = None,
        *, deadline_s: float = 180.0, stop: threading.Event | None = None,
    ) -> None:  # fmt: skip
        self.urls = urls
        self.stop = stop or threading.Event()
        self.client_id, self.secret = make_client(role, province)
        self.deadline_s = deadline_s
        self._local = threading.local()
        self._token: str | None = None
        self._lock = threading.Lock()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()  # not _lock: token() holds that while calling

    def _http(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=CALL_TIMEOUT_S)
            with self._clients_lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def token(self, *, fresh: bool = False) -> str:
        with self._lock:
            if self._token is None or fresh:
                form = {"grant_type": "client_credentials", "client_id": self.client_id,
                        "client_secret": self.secret}  # fmt: skip
                answer = self.request("POST", Service.INTAKE, "/oauth/token", data=form,
                                      auth=False, retry_unknown=True)  # fmt: skip
                if answer.status_code != 200:
                    raise LoadError(f"no token: {answer.status_code} {answer.text[:200]}")
                self._token = str(answer.json()["access_token"])
            return self._token

    def request(
        self, method: str, service: str, path: str, *, auth: bool = True,
        retry_unknown: bool = False, ok: Collection[int] = (), **kwargs: Any,
    ) -> httpx.Response:  # fmt: skip
        """The answer, after retrying what surely did nothing (refused connections, 401 for a
        token a restarted service has not yet seen, 404/409/422 listed in ``ok`` are answers).
        An unknown outcome raises Ambiguous unless ``retry_unknown`` (an idempotent call)."""
        deadline = time.monotonic() + self.deadline_s
        delay = 0.05
        headers = dict(kwargs.pop("headers", {}))
        while time.monotonic() < deadline:
            if self.stop.is_set():
                raise LoadError("stopped")
            if auth:
                headers["Authorization"] = f"Bearer {self.token()}"
            answer = self._attempt(method, service, path, retry_unknown, headers, kwargs)
            if answer is not None and answer.status_code == 401 and auth:
                self.token(fresh=True)  # a restarted service may not know the key yet
            elif answer is not None and answer.status_code not in (429,):
                return answer
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise LoadError(f"{method} {service}{path}: no usable answer in time")

    def _attempt(
        self, method: str, service: str, path: str, retry_unknown: bool,
        headers: dict[str, str], kwargs: dict[str, Any],
    ) -> httpx.Response | None:  # fmt: skip
        """The answer to use, None to try again, or Ambiguous."""
        url = random.choice(self.urls(service)) + path
        try:
            answer = self._http().request(method, url, headers=headers, **kwargs)
        except httpx.ConnectError:
            return None  # refused: nothing was sent; another replica, or after the restart
        except httpx.TransportError as error:
            if retry_unknown:
                return None
            raise Ambiguous(f"{method} {path}: {type(error).__name__}") from error
        if answer.status_code >= 500:
            if retry_unknown:
                return None
            raise Ambiguous(f"{method} {path}: {answer.status_code}")
        return answer

    def get(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", service, path, retry_unknown=True, **kwargs)

    def put(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", service, path, retry_unknown=True, **kwargs)

    def post(self, service: str, path: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        return self.request("POST", service, path, retry_unknown=idempotent, **kwargs)


def until(
    fetch: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool], what: str,
    timeout: float = 180.0,
) -> httpx.Response:  # fmt: skip
    """Call again (bounded) until the answer says the platform has caught up."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        answer = fetch()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise LoadError(f"{what}: still {answer.status_code} {answer.text[:300]}")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
