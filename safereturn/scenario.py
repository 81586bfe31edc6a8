"""What every step of the demo scenario uses: API clients with real tokens, polling, errors."""

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from shared.names import Service

Say = Callable[[str], None]


class ScenarioError(RuntimeError):
    """A step of the scenario did not happen; the message says which."""


class ApiClient:
    """An agency system: client credentials → bearer token → API calls."""

    def __init__(self, urls: Mapping[str, str], client_id: str, secret: str) -> None:
        self.urls = urls
        self.http = httpx.Client(timeout=10.0)
        response = self.http.post(
            f"{urls[Service.INTAKE]}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id,
                  "client_secret": secret},
        )  # fmt: skip
        if response.status_code != 200:
            raise ScenarioError(f"no token for {client_id}: {response.status_code}")
        self.token = response.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"{self.urls[service]}{path}", **kwargs)

    def post(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{self.urls[service]}{path}", **kwargs)

    def put(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.put(f"{self.urls[service]}{path}", **kwargs)

    def delete(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(f"{self.urls[service]}{path}", **kwargs)

    def close(self) -> None:
        self.http.close()


def poll(fetch: Callable[[], dict[str, Any] | None], timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
