"""Staged-rollout rules without a database: stable buckets, stages, auto-halt, transitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yunshang.devices.ota import (
    Rollout,
    RolloutState,
    RolloutStateError,
    is_newer_version,
    os_version_key,
    rollout_bucket,
)
from yunshang.kernel.errors import InvalidInput
from yunshang.kernel.imei import make_imei

T0 = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
IMEIS = [make_imei("86451204", n) for n in range(20_000)]


def rollout(stages: tuple[int, ...] = (1, 10, 50, 100), *, success: float = 0.9,
            failure: float = 0.2, min_reports: int = 10) -> Rollout:
    return Rollout(id="rol_test", tenant="meizu", release_id="rel_1", model="M22",
                   to_version="1.1.0", stages=stages, success_threshold=success,
                   failure_threshold=failure, min_reports=min_reports,
                   state=RolloutState.RUNNING, created_at=T0)


def names(r: Rollout) -> list[str]:
    return [e.name for e in r.pull_events()]


@pytest.mark.parametrize("percent", [1, 10, 50])
def test_a_stage_takes_in_about_its_percentage_of_devices(percent: int) -> None:
    r = rollout((percent, 100))
    share = sum(r.includes(i) for i in IMEIS) / len(IMEIS)
    # 20,000 devices: the binomial standard deviation is at most 0.35 points
    assert abs(share - percent / 100) < 0.015


def test_buckets_are_stable_and_differ_between_rollouts() -> None:
    assert [rollout_bucket("rol_a", i) for i in IMEIS[:100]] == \
           [rollout_bucket("rol_a", i) for i in IMEIS[:100]]
    first_a = {i for i in IMEIS if rollout_bucket("rol_a", i) < 100}
    first_b = {i for i in IMEIS if rollout_bucket("rol_b", i) < 100}
    # each rollout picks its own 1 %: the same devices are not always the canaries
    assert len(first_a & first_b) < len(first_a) / 4


def test_later_stages_keep_the_devices_of_earlier_ones() -> None:
    r = rollout()
    before = {i for i in IMEIS if r.includes(i)}
    r.stage = 2
    after = {i for i in IMEIS if r.includes(i)}
    assert before < after


def test_the_stage_advances_once_enough_reports_succeed() -> None:
    r = rollout(min_reports=10, success=0.9)
    for _ in range(9):
        r.report(True, T0)
    assert r.stage == 0  # nine reports: not yet enough
    r.report(False, T0)  # 9 of 10 = 0.9, the threshold
    assert (r.stage, r.percent) == (1, 10)
    assert names(r) == ["devices.rollout_advanced"]
    assert (r.stage_successes, r.stage_failures) == (0, 0)  # the new stage counts afresh
    assert (r.successes, r.failures) == (9, 1)


def test_a_stage_below_the_success_threshold_waits() -> None:
    r = rollout(min_reports=10, success=0.9, failure=0.5)
    for ok in [True] * 8 + [False] * 2:
        r.report(ok, T0)
    assert r.stage == 0
    assert r.state is RolloutState.RUNNING


def test_the_last_stage_completes_the_rollout() -> None:
    r = rollout((50, 100), min_reports=2)
    for _ in range(4):
        r.report(True, T0)
    assert r.state is RolloutState.COMPLETED
    assert names(r) == ["devices.rollout_advanced", "devices.rollout_completed"]
    assert r.includes(IMEIS[0])  # a completed rollout still offers the update to everyone


def test_the_failure_rate_halts_the_rollout_by_itself() -> None:
    r = rollout(min_reports=5, failure=0.2)
    for ok in (True, True, False, True):
        r.report(ok, T0)
    assert r.state is RolloutState.RUNNING  # four reports: below min_reports
    r.report(False, T0)  # 2 of 5 failed = 0.4 > 0.2
    assert r.state is RolloutState.HALTED
    [event] = r.pull_events()
    assert event.name == "devices.rollout_halted"
    assert event.payload["reason"] == "failure_threshold"
    assert event.payload["failure_rate"] == 0.4
    assert not any(r.includes(i) for i in IMEIS[:2000])


def test_failures_up_to_the_threshold_do_not_halt() -> None:
    r = rollout(min_reports=5, failure=0.2, success=0.8)
    for ok in (True, True, True, True, False):  # 0.2 is not past 0.2
        r.report(ok, T0)
    assert r.state is RolloutState.RUNNING
    assert r.stage == 1


def test_pause_resume_and_halt_transitions() -> None:
    r = rollout()
    member = next(i for i in IMEIS if r.covers(i))
    r.pause(T0)
    assert r.state is RolloutState.PAUSED
    assert not r.includes(member)
    assert r.covers(member)  # paused devices may still report what they started
    with pytest.raises(RolloutStateError):
        r.pause(T0)
    r.resume(T0)
    assert r.state is RolloutState.RUNNING
    assert r.includes(member)
    with pytest.raises(RolloutStateError):
        r.resume(T0)
    r.halt(T0)
    assert r.state is RolloutState.HALTED
    assert not r.includes(member)
    for act in (r.pause, r.resume, r.halt):
        with pytest.raises(RolloutStateError) as err:
            act(T0)
        assert err.value.data["state"] == "halted"
    assert names(r) == ["devices.rollout_paused", "devices.rollout_resumed",
                        "devices.rollout_halted"]


def test_reports_while_paused_advance_only_on_resume() -> None:
    r = rollout(min_reports=2)
    r.pause(T0)
    r.report(True, T0)
    r.report(True, T0)
    assert r.stage == 0
    r.resume(T0)
    assert r.stage == 1


def test_a_completed_rollout_cannot_be_halted() -> None:
    r = rollout((100,), min_reports=1)
    r.report(True, T0)
    assert r.state is RolloutState.COMPLETED
    with pytest.raises(RolloutStateError):
        r.halt(T0)


@pytest.mark.parametrize(("stages", "field"), [
    ([], "stages"),
    ([0, 100], "stages[0]"),
    ([10, 10, 100], "stages[1]"),
    ([50, 20, 100], "stages[1]"),
    ([10, 50], "stages"),
    ([10, 101], "stages[1]"),
])
def test_a_bad_plan_is_refused_naming_the_field(stages: list[int], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Rollout.validate_plan(stages, 0.9, 0.2, 10)
    assert err.value.field == field


@pytest.mark.parametrize(("args", "field"), [
    ((0.0, 0.2, 10), "success_threshold"),
    ((1.5, 0.2, 10), "success_threshold"),
    ((0.9, 0.0, 10), "failure_threshold"),
    ((0.9, 0.2, 0), "min_reports"),
])
def test_bad_thresholds_are_refused_naming_the_field(args: tuple[float, float, int],
                                                      field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Rollout.validate_plan([10, 100], *args)
    assert err.value.field == field


def test_release_versions_compare_numerically() -> None:
    assert is_newer_version("1.10.0", "1.9.9")
    assert not is_newer_version("1.2", "1.2.0")  # the same version
    assert not is_newer_version("1.1.0", "1.2.0")
    assert is_newer_version("1.0.0", "factory-build-7")  # not a release: older than any
    assert not is_newer_version("latest", "1.0.0")
    assert os_version_key("14.2.0") == (14, 2)
    assert os_version_key("1.2.3.4.5") is None
