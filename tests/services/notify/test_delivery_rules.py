"""When to try again and when to leave an endpoint alone: backoff with equal jitter, a circuit
breaker per endpoint, and what fails together (a webhook's origin, the SMTP relay, the gateway)."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.notify.domain import Breakers, backoff_s, endpoint_of

# --- backoff ------------------------------------------------------------------------------------

attempts = st.integers(1, 200)
seconds = st.floats(0.001, 86400, allow_nan=False, allow_infinity=False)
jitters = st.floats(0, 1, allow_nan=False)


def ceiling_of(attempt: int, base_s: float, cap_s: float) -> float:
    return min(cap_s, base_s * 2.0 ** (attempt - 1))


@settings(max_examples=500, deadline=None)
@given(attempt=attempts, base_s=seconds, cap_s=seconds, jitter=jitters)
@example(attempt=1, base_s=1.0, cap_s=60.0, jitter=0.0)
@example(attempt=1, base_s=1.0, cap_s=60.0, jitter=1.0)
@example(attempt=200, base_s=1.0, cap_s=60.0, jitter=1.0)
def test_a_wait_lies_between_half_the_ceiling_and_the_ceiling(
    attempt: int, base_s: float, cap_s: float, jitter: float
) -> None:
    ceiling = ceiling_of(attempt, base_s, cap_s)
    wait = backoff_s(attempt, base_s, cap_s, jitter)
    assert ceiling / 2 <= wait <= ceiling
    assert wait <= cap_s


@settings(max_examples=500, deadline=None)
@given(attempt=attempts, base_s=seconds, cap_s=seconds, jitter=jitters)
def test_a_later_attempt_never_waits_less_for_the_same_jitter(
    attempt: int, base_s: float, cap_s: float, jitter: float
) -> None:
    assert backoff_s(attempt + 1, base_s, cap_s, jitter) >= backoff_s(
        attempt, base_s, cap_s, jitter
    )


def test_the_wait_doubles_from_the_base_until_the_cap() -> None:
    fixed = [backoff_s(attempt, 1.0, 60.0, 1.0) for attempt in range(1, 9)]
    assert fixed == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert [backoff_s(attempt, 1.0, 60.0, 0.0) for attempt in (1, 3, 7)] == [0.5, 2.0, 30.0]
    assert backoff_s(3, 1.0, 60.0, 0.5) == 3.0


@pytest.mark.parametrize("attempt", [1025, 10_000])
def test_a_very_late_attempt_waits_no_more_than_the_cap(attempt: int) -> None:
    assert 30.0 <= backoff_s(attempt, 1.0, 60.0, 0.5) <= 60.0


# --- circuit breakers ---------------------------------------------------------------------------

HOOK = "https://hooks.example.org"
OTHER = "https://other.example.org"
COOLDOWN = 60.0


def opened(failures: int = 3, at: float = 100.0, endpoint: str = HOOK) -> Breakers:
    """Breakers that ``failures`` failures in a row at ``at`` have opened on ``endpoint``."""
    breakers = Breakers(failures=failures, cooldown_s=COOLDOWN)
    for _ in range(failures):
        breakers.failed(endpoint, at)
    return breakers


def test_an_endpoint_is_open_after_so_many_failures_in_a_row() -> None:
    breakers = Breakers(failures=3, cooldown_s=COOLDOWN)
    for _ in range(2):
        breakers.failed(HOOK, 100.0)
        assert breakers.allows(HOOK, 100.0)
        assert not breakers.is_open(HOOK)
    breakers.failed(HOOK, 100.0)
    assert breakers.is_open(HOOK)
    assert not breakers.allows(HOOK, 100.0)


def test_an_open_endpoint_is_refused_all_through_its_cooldown() -> None:
    breakers = opened()
    for now in (100.0, 130.0, 100.0 + COOLDOWN - 0.001):
        assert not breakers.allows(HOOK, now)
    assert breakers.is_open(HOOK)


def test_after_the_cooldown_exactly_one_trial_goes_through() -> None:
    breakers = opened()
    assert breakers.allows(HOOK, 100.0 + COOLDOWN)
    assert breakers.is_open(HOOK)  # half open: the trial is under way
    assert not breakers.allows(HOOK, 100.0 + COOLDOWN)
    assert not breakers.allows(HOOK, 100.0 + COOLDOWN + 1)


def test_a_failed_trial_opens_the_endpoint_for_another_cooldown() -> None:
    breakers = opened()
    trial = 100.0 + COOLDOWN + 5
    assert breakers.allows(HOOK, trial)
    breakers.failed(HOOK, trial + 1)
    assert not breakers.allows(HOOK, trial + COOLDOWN)
    assert breakers.allows(HOOK, trial + 1 + COOLDOWN)


def test_a_successful_trial_closes_the_endpoint() -> None:
    breakers = opened()
    assert breakers.allows(HOOK, 100.0 + COOLDOWN)
    breakers.succeeded(HOOK)
    assert not breakers.is_open(HOOK)
    assert all(breakers.allows(HOOK, 100.0 + COOLDOWN) for _ in range(3))
    for _ in range(2):  # closed afresh: three new failures in a row to open it again
        breakers.failed(HOOK, 200.0)
    assert breakers.allows(HOOK, 200.0)
    breakers.failed(HOOK, 200.0)
    assert not breakers.allows(HOOK, 200.0)


def test_a_success_resets_the_count_of_failures() -> None:
    breakers = Breakers(failures=3, cooldown_s=COOLDOWN)
    for outcome in ["failed", "failed", "succeeded", "failed", "failed"]:
        if outcome == "failed":
            breakers.failed(HOOK, 100.0)
        else:
            breakers.succeeded(HOOK)
    assert not breakers.is_open(HOOK)
    assert breakers.allows(HOOK, 100.0)


def test_each_endpoint_has_its_own_breaker() -> None:
    breakers = opened(endpoint=HOOK)
    breakers.failed(OTHER, 100.0)
    breakers.failed(OTHER, 100.0)
    assert not breakers.allows(HOOK, 100.0)
    assert breakers.allows(OTHER, 100.0)
    breakers.succeeded(OTHER)
    assert not breakers.allows(HOOK, 100.0)
    assert not breakers.is_open(OTHER)


@settings(max_examples=300, deadline=None)
@given(
    failures=st.integers(1, 5),
    outcomes=st.lists(st.tuples(st.sampled_from([HOOK, OTHER]), st.booleans()), max_size=30),
)
def test_an_endpoint_is_open_exactly_when_its_last_failures_in_a_row_reach_the_limit(
    failures: int, outcomes: list[tuple[str, bool]]
) -> None:
    breakers = Breakers(failures=failures, cooldown_s=COOLDOWN)
    in_a_row = {HOOK: 0, OTHER: 0}
    for endpoint, success in outcomes:
        if success:
            breakers.succeeded(endpoint)
            in_a_row[endpoint] = 0
        else:
            breakers.failed(endpoint, 100.0)
            in_a_row[endpoint] += 1
    for endpoint, count in in_a_row.items():
        assert breakers.is_open(endpoint) == (count >= failures)
        assert breakers.allows(endpoint, 100.0) == (count < failures)


# --- what fails together ------------------------------------------------------------------------

SMTP = "smtp://relay.example.vn:25"
GATEWAY = "https://sms.example.vn/send"


def endpoint(channel: str, address: str | None) -> str:
    return endpoint_of(channel, address, GATEWAY, SMTP)


def test_webhooks_of_one_origin_fail_together() -> None:
    same = {endpoint("webhook", url) for url in ["https://hooks.example.org/a",
            "https://hooks.example.org/b/c?x=1", "https://hooks.example.org/"]}  # fmt: skip
    assert same == {"https://hooks.example.org"}
    assert endpoint("webhook", "https://hooks.example.org:8443/a") == (
        "https://hooks.example.org:8443"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/a",
        "https://hooks.example.org:8443/a",
        "https://other.example.org/a",
        "https://a.hooks.example.org/a",
    ],
)
def test_another_scheme_host_or_port_is_another_endpoint(url: str) -> None:
    assert endpoint("webhook", url) != endpoint("webhook", "https://hooks.example.org/a")


def test_a_webhooks_origin_leaves_out_the_credentials_in_its_url() -> None:
    with_credentials = endpoint("webhook", "https://user:secret@hooks.example.org/a")
    assert with_credentials == endpoint("webhook", "https://hooks.example.org/a")
    assert "secret" not in with_credentials


@pytest.mark.parametrize("address", ["a@example.vn", "b@other.example.org", None])
def test_all_mail_fails_together_at_the_smtp_relay(address: str | None) -> None:
    assert endpoint("email", address) == SMTP


@pytest.mark.parametrize("address", ["+84 200 000 001", "+84 912 345 678", None])
def test_all_sms_fails_together_at_the_gateway(address: str | None) -> None:
    assert endpoint("sms", address) == GATEWAY
    assert endpoint_of("sms", address, None, SMTP) == "sms-gateway"
