"""The private one-node Ray cluster of ``--executor ray`` without an address: on loopback, token guarded.

Why each step. Ray turns a ``127.0.0.1`` node address into the machine's reachable address, and its
GCS, raylet and worker gRPC servers then listen on every interface (measured with Ray 2.60: ``::``), so a
"private" cluster was open to the network, guarded only by Ray's token, whose file Ray writes with the
default umask (world-readable). Ray keeps its node on loopback when it runs in single-machine mode
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its own setting for machines that may not form clusters): every
server then listens on 127.0.0.1. Token authentication (Ray >= 2.52) is switched on unless the user chose
otherwise, and the token file and its directory are made private to the user. A cluster whose node is not
on loopback after all is shut down again: ``SandboxUnavailable``, never a silently exposed cluster.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from selftaught.errors import SandboxUnavailable

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def token_paths() -> list[Path]:
    """Where Ray may read its token from: ``RAY_AUTH_TOKEN_PATH`` if set, else ``~/.ray/auth_token``."""
    custom = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return [Path(custom)] if custom else [Path.home() / ".ray" / "auth_token"]


def keep_token_private() -> None:
    """Mode 0600 for the token file and 0700 for the default ``~/.ray`` (ours only: another user's file
    is left alone, and a missing one is Ray's to create)."""
    default_dir = Path.home() / ".ray"
    for path in [*token_paths(), default_dir]:
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_uid != os.getuid():
            continue
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) & ~want:
            path.chmod(stat.S_IMODE(st.st_mode) & want)


def start(ray: Any) -> None:
    """``ray.init`` a private one-node cluster listening on loopback only (see the module docstring)."""
    if "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
        ray._raylet.Config.initialize("")  # this process read the mode when Ray was imported: again
    os.environ[SINGLE_MACHINE] = "0"  # read by the cluster's processes when they start
    constants = ray._private.ray_constants
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False  # read by this process when it picks the node address
    keep_token_private()
    old_umask = os.umask(0o077)  # a token file Ray creates now is private from the start
    try:
        ray.init(include_dashboard=False, dashboard_host="127.0.0.1", log_to_driver=False,
                 configure_logging=False, _node_ip_address="127.0.0.1")
    finally:
        os.umask(old_umask)
        constants.ENABLE_RAY_CLUSTER = before
        os.environ.pop(SINGLE_MACHINE, None)
    keep_token_private()
    addresses = {n.get("NodeManagerAddress") for n in ray.nodes()}
    if not addresses or not addresses <= set(LOOPBACK):
        ray.shutdown()
        raise SandboxUnavailable(f"the private Ray cluster came up on {sorted(map(str, addresses))}, not on "
                                 "loopback; start one yourself (ray start --head --node-ip-address 127.0.0.1) "
                                 "and pass its address with --ray-address")
