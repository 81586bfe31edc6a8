"""Bad tokens and bad secrets are throttled by what a client controls, never by its address:
behind a proxy every client has the proxy's address, and one client's failures must not lock
the others out. (Every request here comes from 127.0.0.1, as through one proxy.)"""

from datetime import UTC, datetime, timedelta

import httpx

from shared.names import Service
from tests.e2e.conftest import Services
from tests.e2e.test_access import CHECK_ALL, forge, in_thread

LIMIT = 3


def _throttled_stats(services: Services) -> tuple[str, dict[str, str]]:
    """Intake and stats started with ``LIMIT`` requests a minute; a guarded stats URL and the
    headers of an integrator's valid token."""
    services.env["SAFERETURN_RATE_LIMIT_PER_MINUTE"] = str(LIMIT)
    services.start(Service.INTAKE, Service.STATS)
    return f"{services.urls[Service.STATS]}{CHECK_ALL}", services.auth("integrator")


def test_a_valid_token_passes_however_many_bad_ones_came_from_its_address(
    services: Services,
) -> None:
    url, valid = _throttled_stats(services)
    codes = [httpx.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code
             for _ in range(LIMIT + 3)]  # fmt: skip
    assert codes[:LIMIT] == [401] * LIMIT
    assert codes[-1] == 429  # the one sending garbage is throttled
    assert httpx.get(url, headers=valid).status_code == 200


def test_a_lapsed_token_counts_against_its_own_client_not_the_address(
    services: Services,
) -> None:
    url, valid = _throttled_stats(services)
    past = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    lapsed = {"Authorization": f"Bearer {in_thread(forge(services, {'exp': past}))}"}
    for _ in range(LIMIT + 1):
        httpx.get(url, headers={"Authorization": "Bearer not-a-token"})
    # Its signature is intake's: its client is told to fetch a new token, not to wait.
    codes = [httpx.get(url, headers=lapsed).status_code for _ in range(LIMIT + 1)]
    assert codes == [401] * LIMIT + [429]  # and its own failures are still counted
    assert httpx.get(url, headers=valid).status_code == 200


def test_bad_secrets_for_one_client_do_not_lock_out_another_at_the_same_address(
    services: Services,
) -> None:
    services.env["SAFERETURN_LOGIN_FAILURE_LIMIT_PER_ADDRESS"] = str(LIMIT)
    services.start(Service.INTAKE)
    url = f"{services.urls[Service.INTAKE]}/oauth/token"
    guessed, _ = services.new_client("reporter")
    other, other_secret = services.new_client("reporter")
    for n in range(LIMIT + 1):  # names no client: counted against the address
        httpx.post(url, data={"grant_type": "client_credentials", "client_id": f"sr-none-{n}",
                              "client_secret": "guess"}, timeout=30)  # fmt: skip
    codes = [httpx.post(url, data={"grant_type": "client_credentials", "client_id": guessed,
                                   "client_secret": "guess"}, timeout=30).status_code
             for _ in range(6)]  # fmt: skip
    assert codes == [401] * 5 + [429]  # brute force on one client id is still throttled
    answer = httpx.post(url, data={"grant_type": "client_credentials"},
                        auth=(other, other_secret), timeout=30)  # fmt: skip
    assert answer.status_code == 200
