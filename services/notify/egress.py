"""Where a webhook may go: only to public addresses, checked on the address actually connected
to, at every attempt. A name is resolved once per request, every address it resolves to is
checked, and the connection goes to the checked address (the Host header and TLS SNI keep the
name), so a name that answers differently later (DNS rebinding) reaches nothing internal.
Redirects are never followed and proxies from the environment are ignored."""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) → the addresses it resolves to, as text; raises OSError if it does not."""

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
INTERNAL: tuple[Network, ...] = (
    # A NAT64 prefix leads to the site's own translator, which connects for us: whatever IPv4
    # address it embeds, the connection starts inside the platform's network.
    NAT64,
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # RFC 8215: local-use NAT64
    # Python versions disagree on parts of these (192.0.0.9, 192.0.0.10 are "global" anycast
    # in some); no webhook receiver lives there.
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv6Network("2001::/23"),
)


class NotPublic(httpx.TransportError):
    """The host is, or resolves to, an address that is not public (nothing was sent)."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one leads to: IPv4-mapped, NAT64, 6to4 and Teredo."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # the relay server and the (obfuscated) client
    return found


def is_public(address: Address) -> bool:
    """Unicast on the public Internet, and so is every IPv4 address it embeds; anything else
    (loopback, private, shared, link-local, multicast, reserved, documentation…) is internal."""
    if (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or any(address in network for network in INTERNAL)
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or address.scope_id:
            return False
        return all(is_public(inner) for inner in embedded_ipv4(address))
    return True


def allowed(address: Address, allow: Iterable[Network]) -> bool:
    """Public, or itself inside a network the operator allowed (tests, embedded mode); an
    allowed IPv4 network does not allow IPv6 forms of its addresses."""
    return is_public(address) or any(address in network for network in allow)


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo), TCP addresses, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_address(
    host: str, port: int, resolve: Resolver, allow: Iterable[Network]
) -> Address:
    """The address to connect to for ``host``; ``NotPublic`` if it does not resolve or any
    address it resolves to is internal (a name that mixes both is not trusted either)."""
    try:
        found = [ipaddress.ip_address(text) for text in await resolve(host, port)]
    except (OSError, ValueError) as error:
        raise NotPublic("not resolvable") from error
    allow = list(allow)
    if not found or not all(allowed(address, allow) for address in found):
        raise NotPublic("not a public address")
    return found[0]


async def internal_target(
    url: str, resolve: Resolver = system_resolver, allow: Iterable[Network] = ()
) -> bool:
    """Whether a webhook URL would be refused now: no host, not resolvable, or internal."""
    parts = urlsplit(url)
    if not parts.hostname:
        return True
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await checked_address(parts.hostname, port, resolve, allow)
    except (NotPublic, ValueError):
        return True
    return False


class GuardedTransport(httpx.AsyncBaseTransport):
    """Connects only to checked addresses: resolves, checks, then connects to that address."""

    def __init__(
        self, resolve: Resolver, allow: Iterable[Network], inner: httpx.AsyncBaseTransport
    ) -> None:
        self.resolve = resolve
        self.allow = list(allow)
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await checked_address(url.host, port, self.resolve, self.allow)
        # The Host header was set from the name when the request was built; SNI and the
        # certificate check use the name too, while the socket goes to the checked address.
        request.url = url.copy_with(host=str(address))
        request.extensions = {**request.extensions, "sni_hostname": url.host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def webhook_client(
    resolve: Resolver, allow: Iterable[Network], *, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """An HTTP client for webhooks: checked addresses only, no redirects, no proxies."""
    inner = httpx.AsyncHTTPTransport(verify=verify, retries=0)
    transport = GuardedTransport(resolve, allow, inner)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
