"""Ports for processes started together are distinct: the kernel may hand a port given back
out again at once (seen: 2 repeats in 200 single picks), and two services would share one."""

import socket

from shared.redis_server import free_ports


def test_ports_chosen_together_are_distinct_and_free() -> None:
    for _ in range(5):
        ports = free_ports(200)
        assert len(set(ports)) == 200
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))  # given back: free to bind
