"""Every packaged conformance case against every executor: the verdict is right, nothing leaked,
crashed or was left behind, and the pool still works (see ``selftaught.sandbox.conformance``)."""

from __future__ import annotations

from collections import Counter

import pytest
from tests.adversarial.conftest import Target

from selftaught.sandbox.conformance import CASES, Case, check, run_case, tier_letter

pytestmark = [pytest.mark.adversarial, pytest.mark.timeout(120)]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.attack}-{c.name}" for c in CASES])
def test_contained(case: Case, target: Target) -> None:
    if not case.applies_to(target.tier):
        pytest.skip(f"checks tiers {'/'.join(case.tiers)}; {target.name} runs tier {target.tier} "
                    "(install bubblewrap + pyseccomp for tier A)")
    run_case(case, target.executor, target.tier, target.host, target.baseline)


def test_the_suite_covers_every_class_with_variants() -> None:
    per_class = Counter(c.attack for c in CASES)
    assert len(CASES) >= 80 and len({c.name for c in CASES}) == len(CASES)
    assert set(per_class) >= {"network", "secrets", "filesystem", "persistence", "processes", "limits",
                              "syscalls", "ipc", "clocks", "verdicts", "channel", "frames", "rpc", "seeds",
                              "source", "escapes"}
    assert min(n for attack, n in per_class.items() if attack != "declaration") >= 3, per_class


def test_tier_letters_from_labels() -> None:
    assert tier_letter("bwrap+landlock+cgroup") == "A"
    assert tier_letter("seccomp+landlock") == "B"
    assert tier_letter("ray+bwrap+cgroup/seccomp+landlock") == "B"
    assert tier_letter("ray+bwrap/unsandboxed") == "C"
    assert tier_letter("someone-elses-sandbox") == "C"


def test_check_fails_an_executor_that_does_not_isolate() -> None:
    """The suite can fail: a cold, unsandboxed process held to tier A lets every network attack through."""
    from selftaught.sandbox.cold import ColdProcessExecutor

    report = check(ColdProcessExecutor(), tier="A", attack="network")
    assert report.tier == "A" and len(report.results) == len([c for c in CASES if c.attack == "network"])
    assert report.failed and not report.ok
    assert "FAILED network/" in report.summary()
    assert {r.status for r in report.results} <= {"passed", "failed"}


def test_the_command_lists_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    from selftaught.sandbox.conformance.__main__ import main

    assert main(["--list"]) == 0
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert listed == [c.name for c in CASES]
