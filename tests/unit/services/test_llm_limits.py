"""CallLimits: requests-per-minute pacing and concurrency caps, shared by every call.

The clock and the sleeps are injected: the clock moves only when a test moves
it, and a sleep records how long it would wait (in ``WAITED``, per task or
thread) without waiting, so each call's scheduled start is exactly
``clock + WAITED`` and the tests need no real time.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import threading
from contextvars import ContextVar
from typing import Any

import pytest

from agentmap.services.llm.limits import CallLimits

#: How long the current task or thread was told to wait by its last slot.
WAITED: ContextVar[float] = ContextVar("WAITED", default=0.0)


class FakeTime:
    """A clock that moves only when told; sleeps record their delay and return at once."""

    def __init__(self) -> None:
        self.now = 0.0
        #: When set, an async sleep never returns (to cancel a call while it waits).
        self.block = False

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        WAITED.set(delay)
        if self.block:
            await asyncio.Event().wait()
        await asyncio.sleep(0)

    def sync_sleep(self, delay: float) -> None:
        WAITED.set(delay)

    def limits(self, **settings: Any) -> CallLimits:
        return CallLimits(
            clock=self.clock, sleep=self.sleep, sync_sleep=self.sync_sleep, **settings
        )

    def start(self, limits: CallLimits, provider: str | None = None) -> float:
        """One sync call; its scheduled start time."""
        WAITED.set(0.0)
        with limits.slot(provider):
            return self.now + WAITED.get()

    async def astart(self, limits: CallLimits, provider: str | None = None) -> float:
        """One async call; its scheduled start time."""
        WAITED.set(0.0)
        async with limits.aslot(provider):
            return self.now + WAITED.get()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


# --------------------------------------------------------------------------- rate


def test_rpm_spaces_starts_evenly(fake_time: FakeTime) -> None:
    limits = fake_time.limits(rpm=60)
    assert [fake_time.start(limits) for _ in range(4)] == [0, 1, 2, 3]
    # Idle time earns no burst beyond one request when rpm < 120.
    fake_time.now = 10.0
    assert [fake_time.start(limits) for _ in range(3)] == [10, 11, 12]


def test_a_fractional_rpm_is_a_longer_interval(fake_time: FakeTime) -> None:
    limits = fake_time.limits(rpm=0.5)
    assert [fake_time.start(limits) for _ in range(3)] == [0, 120, 240]


def test_one_seconds_worth_may_start_together_then_the_rest_is_spaced(
    fake_time: FakeTime,
) -> None:
    limits = fake_time.limits(rpm=600)  # burst of 10
    starts = [fake_time.start(limits) for _ in range(13)]
    interval = 60 / 591  # leaves room for the burst within any minute
    assert starts[:10] == [0] * 10
    assert starts[10:] == pytest.approx([interval, 2 * interval, 3 * interval])
    # After a quiet spell the burst is available again, and no more of it.
    fake_time.now = 100.0
    starts = [fake_time.start(limits) for _ in range(11)]
    assert starts == pytest.approx([100.0] * 10 + [100 + interval])


@pytest.mark.parametrize("rpm", [0.5, 1, 59, 60, 119, 120, 250.5, 600, 3000])
def test_no_minute_ever_holds_more_than_rpm_starts(fake_time: FakeTime, rpm: float) -> None:
    limits = fake_time.limits(rpm=rpm)
    rng = random.Random(rpm)
    starts: list[float] = []
    for _ in range(8):
        # Spells of back-to-back demand, up to two minutes' worth, then a quiet
        # spell that refills some or all of the burst.
        starts.extend(fake_time.start(limits) for _ in range(rng.randint(1, int(2 * rpm) + 2)))
        fake_time.now = starts[-1] + rng.uniform(0, 5) * rng.choice([0.1, 1, 10])
    starts.sort()
    # (less a nanosecond: sums of float intervals land a hair short of 60 s)
    most = max(bisect.bisect_left(starts, s + 60 - 1e-9) - i for i, s in enumerate(starts))
    assert most <= math.ceil(rpm)


def test_sustained_demand_gets_close_to_rpm(fake_time: FakeTime) -> None:
    limits = fake_time.limits(rpm=600)
    starts = [fake_time.start(limits) for _ in range(6001)]
    # 6,000 intervals after the first start: at least 98% of 600 per minute.
    assert starts[-1] / 60 <= 6000 / (600 * 0.98)


def test_provider_limits_are_separate_and_match_any_case(fake_time: FakeTime) -> None:
    limits = fake_time.limits(provider_rpm={"openai": 30, "Anthropic": 30})
    assert [fake_time.start(limits, "openai") for _ in range(3)] == [0, 2, 4]
    assert [fake_time.start(limits, "ANTHROPIC") for _ in range(2)] == [0, 2]
    assert [fake_time.start(limits, "OpenAI")] == [6]
    # A provider with no limit, or none named, is not paced at all.
    assert [fake_time.start(limits, "google") for _ in range(3)] == [0, 0, 0]
    assert [fake_time.start(limits) for _ in range(3)] == [0, 0, 0]


def test_the_global_rpm_covers_every_provider_and_both_must_allow(fake_time: FakeTime) -> None:
    limits = fake_time.limits(rpm=60, provider_rpm={"openai": 30})
    calls = ["openai", "google", "openai", None, "openai"]
    assert [fake_time.start(limits, provider) for provider in calls] == [0, 1, 2, 3, 4]
    # The provider's limit is the tighter one: openai waits for its own slot.
    fake_time.now = 100.0
    assert [fake_time.start(limits, "openai") for _ in range(3)] == [100, 102, 104]


async def test_sync_and_async_calls_share_one_schedule(fake_time: FakeTime) -> None:
    limits = fake_time.limits(rpm=60)
    assert fake_time.start(limits) == 0
    assert await fake_time.astart(limits) == 1
    starts = await asyncio.gather(*(fake_time.astart(limits) for _ in range(3)))
    assert sorted(starts) == [2, 3, 4]


def test_two_event_loops_in_two_threads_share_one_schedule(fake_time: FakeTime) -> None:
    limits = fake_time.limits(rpm=60, max_concurrency=2)
    starts: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(2)

    async def calls() -> None:
        ready.wait()  # both loops run at once
        got = await asyncio.gather(*(fake_time.astart(limits) for _ in range(4)))
        with lock:
            starts.extend(got)

    threads = [threading.Thread(target=asyncio.run, args=(calls(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # One schedule: eight distinct seconds, not each loop's own 0, 1, 2, 3.
    assert sorted(starts) == [0, 1, 2, 3, 4, 5, 6, 7]


# --------------------------------------------------------------------------- concurrency


async def test_concurrency_caps_calls_in_flight_globally_and_per_provider(
    fake_time: FakeTime,
) -> None:
    limits = fake_time.limits(max_concurrency=3, provider_concurrency={"openai": 1}, rpm=6000)
    in_flight: dict[str, int] = {"all": 0, "openai": 0}
    most = dict(in_flight)

    async def call(provider: str) -> None:
        async with limits.aslot(provider):
            for key in ("all", provider):
                if key in in_flight:
                    in_flight[key] += 1
                    most[key] = max(most[key], in_flight[key])
            for _ in range(5):
                await asyncio.sleep(0)
            for key in ("all", provider):
                if key in in_flight:
                    in_flight[key] -= 1

    await asyncio.gather(*(call(p) for p in ["openai"] * 4 + ["google"] * 4))
    assert most == {"all": 3, "openai": 1}


async def test_calls_queued_for_a_provider_hold_no_global_slot(fake_time: FakeTime) -> None:
    limits = fake_time.limits(max_concurrency=2, provider_concurrency={"openai": 1})
    release = asyncio.Event()

    async def held(provider: str) -> None:
        async with limits.aslot(provider):
            await release.wait()

    openai = [asyncio.create_task(held("openai")) for _ in range(3)]
    await asyncio.sleep(0)
    # One openai call runs and two queue for openai: the second global slot is free.
    assert await asyncio.wait_for(fake_time.astart(limits, "google"), timeout=1) == 0
    release.set()
    await asyncio.gather(*openai)


def test_sync_calls_are_capped_too(fake_time: FakeTime) -> None:
    limits = fake_time.limits(max_concurrency=2, rpm=6000)
    in_flight = 0
    most = 0
    lock = threading.Lock()
    # Two callers must be inside at once to pass the barrier (a cap of 1 breaks it).
    pair = threading.Barrier(2, timeout=5)

    def call() -> None:
        nonlocal in_flight, most
        with limits.slot():
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            pair.wait()
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert most == 2
    assert not pair.broken


async def test_a_call_takes_its_start_time_only_once_it_has_a_slot(fake_time: FakeTime) -> None:
    """Else calls queued behind the cap would hold past start times and go out in a bunch."""
    limits = fake_time.limits(max_concurrency=1, rpm=60)
    release = asyncio.Event()

    async def first() -> float:
        async with limits.aslot():
            await release.wait()
            return 0.0

    holder = asyncio.create_task(first())
    queued = asyncio.create_task(fake_time.astart(limits))
    await asyncio.sleep(0)
    fake_time.now = 10.0  # the first call ran for 10 s
    release.set()
    await holder
    assert await queued == 10.0  # not 1.0: no reservation made while it queued


async def test_a_call_cancelled_while_paced_gives_its_slot_back(fake_time: FakeTime) -> None:
    limits = fake_time.limits(max_concurrency=1, rpm=60)
    assert await fake_time.astart(limits) == 0
    fake_time.block = True
    waiting = asyncio.create_task(fake_time.astart(limits))  # told to wait until 1
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    fake_time.block = False
    fake_time.now = 100.0
    assert await asyncio.wait_for(fake_time.astart(limits), timeout=1) == 100.0


async def test_an_error_in_the_call_releases_the_slot(fake_time: FakeTime) -> None:
    limits = fake_time.limits(max_concurrency=1)
    with pytest.raises(RuntimeError, match="provider down"):
        async with limits.aslot():
            raise RuntimeError("provider down")
    with pytest.raises(RuntimeError, match="provider down"), limits.slot():
        raise RuntimeError("provider down")
    assert await asyncio.wait_for(fake_time.astart(limits), timeout=1) == 0
    assert fake_time.start(limits) == 0


# --------------------------------------------------------------------------- construction


async def test_no_limits_means_no_waiting(fake_time: FakeTime) -> None:
    limits = fake_time.limits()
    assert not limits.enabled
    starts = await asyncio.gather(*(fake_time.astart(limits, "openai") for _ in range(50)))
    assert starts == [0] * 50
    assert fake_time.limits(provider_rpm={"openai": 1}).enabled


@pytest.mark.parametrize(
    "settings",
    [{"rpm": 0}, {"rpm": math.inf}, {"provider_rpm": {"openai": -1}}, {"max_concurrency": 0}],
)
def test_impossible_limits_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="limit"):
        CallLimits(**settings)


def test_built_from_settings() -> None:
    from agentmap.settings import LLMSettings

    time = FakeTime()
    settings = LLMSettings(rpm=30, provider_rpm={"openai": 20}, provider_concurrency={"x": 2})
    limits = CallLimits.from_settings(
        settings, clock=time.clock, sleep=time.sleep, sync_sleep=time.sync_sleep
    )
    assert [time.start(limits, "openai") for _ in range(3)] == [0, 3, 6]
    assert [time.start(limits) for _ in range(2)] == [8, 10]


@pytest.mark.parametrize(
    "llm",
    [
        {"rpm": 0},
        {"rpm": "inf"},
        {"provider_rpm": {"openai": 0}},
        {"provider_rpm": {"openai": "nan"}},
        {"provider_concurrency": {"openai": 0}},
    ],
)
def test_settings_refuse_limits_that_could_never_let_a_call_through(llm: dict[str, Any]) -> None:
    from agentmap.errors import ConfigurationError
    from agentmap.settings import load_settings

    with pytest.raises(ConfigurationError, match=r"llm\.(provider_)?(rpm|concurrency)"):
        load_settings("test", llm=llm)


def test_settings_take_fractional_limits() -> None:
    from agentmap.settings import load_settings

    llm = load_settings("test", llm={"rpm": 166.5, "provider_rpm": {"openai": 0.5}}).llm
    assert (llm.rpm, llm.provider_rpm) == (166.5, {"openai": 0.5})
