"""Fixtures of the adversarial suite: the packaged conformance cases (``selftaught.sandbox.conformance``)
run against real executors, ``local`` (warm zygotes at the best tier this machine offers, a pool of one
so that sequential programs reuse a sandbox) and ``ray`` (a one-node Ray cluster on 127.0.0.1, skipped
without selftaught[ray]), with host-side secrets planted in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from selftaught.sandbox.conformance import Baseline, HostSecrets, later_program, planted, tier_letter
from selftaught.sandbox.conformance.host import ENV_SECRETS
from selftaught.sandbox.executor import Executor
from selftaught.sandbox.local import LocalExecutor

# Secrets the host holds in its environment before any sandbox starts (the tier probe's included).
for _key, _value in ENV_SECRETS.items():
    os.environ.setdefault(_key, _value)


@dataclass
class Target:
    """One executor under test, the tier it is held to, and what later programs already saw."""

    name: str
    executor: Executor
    tier: str
    host: HostSecrets
    baseline: Baseline


@pytest.fixture(scope="package")
def host() -> Iterator[HostSecrets]:
    with planted() as secrets:
        yield secrets


def _ray_executor() -> Iterator[Executor]:
    ray = pytest.importorskip("ray", reason="the Ray executor needs: pip install 'selftaught[ray]'")
    from selftaught.sandbox.ray_executor import RayExecutor

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")
    try:
        ex = RayExecutor()
        try:
            yield ex
        finally:
            ex.close()
    finally:
        ray.shutdown()


@pytest.fixture(scope="package", params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def target(request: pytest.FixtureRequest, host: HostSecrets) -> Iterator[Target]:
    if request.param == "local":
        made: Iterator[Executor] = iter([LocalExecutor(pool_size=1)])
    else:
        made = _ray_executor()
    executor = next(made)
    tier = tier_letter(executor.tier)
    try:
        yield Target(request.param, executor, tier, host,
                     Baseline(later_program(executor, tier, host.as_args()["host_uid"])))
    finally:
        if request.param == "local":
            executor.close()
        else:
            next(made, None)


@pytest.fixture(scope="package")
def local() -> Iterator[LocalExecutor]:
    ex = LocalExecutor(pool_size=1)
    yield ex
    ex.close()
