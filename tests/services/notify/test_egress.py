"""Which addresses a webhook may reach: every address outside the public Internet is internal,
including one hidden inside an IPv6 address (IPv4-mapped, NAT64, 6to4, Teredo), and a name
that does not resolve is refused rather than let through."""

import ipaddress
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.egress import allowed, embedded_ipv4, internal_target, is_public

V4, V6 = ipaddress.IPv4Address, ipaddress.IPv6Address
INTERNAL_V4 = [ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)]  # fmt: skip
INTERNAL_V6 = [ipaddress.IPv6Network(n) for n in (
    "::/8", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7",
    "fe80::/10", "fec0::/10", "ff00::/8",
)]  # fmt: skip


def in_network(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> st.SearchStrategy[V4 | V6]:
    first, kind = int(network.network_address), type(network.network_address)
    return st.integers(first, first + network.num_addresses - 1).map(kind)


internal_v4 = st.sampled_from(INTERNAL_V4).flatmap(in_network)
internal_v6 = st.sampled_from(INTERNAL_V6).flatmap(in_network)
any_v4 = st.integers(0, 2**32 - 1).map(V4)
any_v6 = st.integers(0, 2**128 - 1).map(V6)


def mapped(v4: V4) -> V6:
    return V6(f"::ffff:{v4}")


def nat64(v4: V4) -> V6:
    return V6(int(V6("64:ff9b::")) | int(v4))


def six_to_four(v4: V4) -> V6:
    return V6((0x2002 << 112) | (int(v4) << 80) | 1)


def teredo(server: V4, client: V4) -> V6:
    return V6((0x20010000 << 96) | (int(server) << 64) | (int(client) ^ 0xFFFFFFFF))


@given(internal_v4)
def test_no_address_of_a_non_public_ipv4_range_is_public(address: V4) -> None:
    assert not is_public(address)


@given(internal_v6)
def test_no_address_of_a_non_public_ipv6_range_is_public(address: V6) -> None:
    assert not is_public(address)


@given(internal_v4, st.sampled_from([mapped, nat64, six_to_four]))
def test_an_internal_ipv4_address_inside_an_ipv6_one_is_internal(address: V4, wrap: object) -> None:
    wrapped = wrap(address)  # type: ignore[operator]
    assert address in embedded_ipv4(wrapped)
    assert not is_public(wrapped)


@given(internal_v4, any_v4)
def test_a_teredo_address_with_an_internal_end_is_internal(inside: V4, other: V4) -> None:
    assert not is_public(teredo(inside, other))
    assert not is_public(teredo(other, inside))


@given(any_v4)
def test_an_ipv4_address_inside_an_ipv6_one_is_public_only_if_it_is(address: V4) -> None:
    assert is_public(six_to_four(address)) == is_public(address)
    assert not is_public(mapped(address)) or is_public(address)


@given(any_v4)
def test_nat64_is_internal_whatever_it_embeds(address: V4) -> None:
    """The prefix leads to the site's own translator, which would connect from inside."""
    assert not is_public(nat64(address))


@given(st.one_of(any_v4, any_v6))
def test_a_public_address_is_global_unicast(address: V4 | V6) -> None:
    if is_public(address):
        assert address.is_global
        assert not address.is_multicast
        assert not address.is_private


@given(st.one_of(any_v4, any_v6))
def test_with_no_network_allowed_only_public_addresses_are(address: V4 | V6) -> None:
    assert allowed(address, []) == is_public(address)


@given(st.sampled_from(INTERNAL_V4 + INTERNAL_V6).flatmap(
    lambda n: st.tuples(st.just(n), in_network(n))))  # fmt: skip
def test_an_allowed_network_is_reached_and_nothing_else_is_added(
    found: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, V4 | V6],
) -> None:
    network, address = found
    assert allowed(address, [network])
    others = [n for n in INTERNAL_V4 + INTERNAL_V6 if n != network and address not in n]
    assert allowed(address, others) == is_public(address)


# --- URLs, as a subscription is checked when it is made -------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::7f00:1]:8001/v1/clients",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::5db8:d822]/",  # NAT64 of a public address: the translator is ours
        "http://[::ffff:127.0.0.1]:8004/",  # IPv4-mapped loopback
        "http://[::ffff:10.0.0.5]/",  # IPv4-mapped private
        "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
        "http://[fd00::1]/",  # unique local
        "http://100.64.0.1/",  # shared address space (carrier NAT)
        "http://224.0.0.1/",  # multicast
        "http://does-not-resolve.invalid/hook",  # would be resolved again at delivery
        "http:///no-host",
    ],
)
async def test_a_webhook_url_that_is_not_surely_public_is_refused(url: str) -> None:
    assert await internal_target(url) is True


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34/hook", "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
            "https://[2002:5db8:d822::1]/hook"]  # the last: 6to4 of 93.184.216.34
)  # fmt: skip
async def test_a_public_webhook_url_is_accepted(url: str) -> None:
    assert await internal_target(url) is False


async def test_a_name_is_refused_if_any_of_its_addresses_is_internal() -> None:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34", "127.0.0.1"]

    assert await internal_target("https://mixed.example/hook", resolve) is True
    assert await internal_target("https://mixed.example/hook", resolve,
                                 [ipaddress.ip_network("127.0.0.0/8")]) is False  # fmt: skip
