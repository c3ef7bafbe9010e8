"""Network: no socket of any family reaches anything (tiers A/B refuse ``socket`` in seccomp)."""

from __future__ import annotations

from selftaught.sandbox.conformance.case import Case
from selftaught.sandbox.conformance.programs import CTYPES

A = "network"
KILLED = ("violation",)


def _net(name: str, why: str, body: str, verdicts: tuple[str, ...] = KILLED, **kw) -> Case:
    return Case(name, A, why, "import socket\ndef attack(ctx):\n" + body, verdicts, "AB", **kw)


CASES = [
    _net("tcp_connect", "TCP to a public address",
         "    s = socket.socket()\n    s.connect(('1.1.1.1', 80))\n    return 'connected'\n"),
    _net("tcp_loopback", "TCP to the host's loopback (sshd)",
         "    socket.create_connection(('127.0.0.1', 22), 1)\n    return 'connected'\n"),
    _net("udp_send", "a UDP datagram to a public resolver",
         "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('8.8.8.8', 53))\n"
         "    return 'sent'\n"),
    _net("dns_lookup", "name resolution", "    return socket.getaddrinfo('example.com', 80)\n",
         ("violation", "error"), contained=lambda v: v is None),
    _net("ipv6_socket", "an IPv6 socket", "    socket.socket(socket.AF_INET6)\n    return 1\n"),
    _net("raw_socket", "a raw packet socket",
         "    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n    return 1\n"),
    _net("netlink_socket", "a netlink socket (routing, audit)",
         "    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\n    return 1\n"),
    _net("unix_socket_to_host_daemon", "a Unix socket to the system bus",
         "    s = socket.socket(socket.AF_UNIX)\n    s.connect('/run/dbus/system_bus_socket')\n"
         "    return 'connected'\n"),
    _net("abstract_unix_socket", "an abstract Unix socket (X11)",
         "    s = socket.socket(socket.AF_UNIX)\n    s.connect('\\0/tmp/.X11-unix/X0')\n    return 'connected'\n"),
    _net("tcp_listen", "a listening TCP server on every interface",
         "    s = socket.socket()\n    s.bind(('0.0.0.0', 0))\n    s.listen()\n    return s.getsockname()\n"),
    _net("socketpair", "a Unix socket pair (a side channel to pass descriptors)",
         "    a, b = socket.socketpair()\n    return 'paired'\n"),
    _net("vsock_socket", "a VM socket to the hypervisor", "    socket.socket(40, socket.SOCK_STREAM)\n    return 1\n"),
    Case("ctypes_socket_syscall", A, "socket(2) by raw syscall number, past Python's socket module",
         CTYPES + "def attack(ctx):\n    return libc.syscall(41, 2, 1, 0)\n", KILLED, "AB"),
    Case("urllib_fetch", A, "an HTTP fetch through the standard library",
         "import urllib.request\ndef attack(ctx):\n"
         "    return urllib.request.urlopen('http://example.com', timeout=2).read(100)\n",
         ("violation", "error"), "AB"),
]
