"""The test run's ports stay out of the range the kernel hands to port-0 binds, so no other server takes them."""

from __future__ import annotations

import socket

from tests.ports import _ephemeral_start, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_skip_a_held_one() -> None:
    first = free_port()
    with socket.socket() as held:  # a server already on the next port in this worker's block
        held.bind(("127.0.0.1", first + 1))
        held.listen()
        ports = [free_port() for _ in range(5)]
    assert all(port < _ephemeral_start() for port in [first, *ports])
    assert first + 1 not in ports
    assert len({first, *ports}) == 6
