"""Timing helpers: interleaved cases, repeated samples, medians, ratios.

The machines are noisy, so no figure stands alone: every case times its
baseline in the same process, the candidates are interleaved (each sample
runs every candidate once, in a rotating order), and a figure is the median
of the samples. Where one call is long and its cost drifts (a whole request),
``per_round_ratios`` takes each round's ratios rather than the medians'.

Here too are the values every case returns (``Row``, one per case, and its
``Candidate`` lines) and what turns medians into them.
"""

from __future__ import annotations

import gc
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TypeVar

import attrs

T = TypeVar("T")


def per_call(func: Callable[[], object], number: int) -> float:
    """Seconds per call of *func*, over *number* calls."""
    start = time.perf_counter()
    for _ in range(number):
        func()
    return (time.perf_counter() - start) / number


def interleaved(
    candidates: Mapping[str, Callable[[], float]], repeat: int
) -> dict[str, float]:
    """The median of *repeat* samples of each candidate, interleaved.

    Each candidate is a function that takes one sample and returns it.
    """
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for order in itertools.islice(rotations(list(candidates)), repeat):
        for name in order:
            samples[name].append(candidates[name]())
    return {name: statistics.median(values) for name, values in samples.items()}


async def interleaved_async(
    candidates: Mapping[str, Callable[[], Awaitable[float]]], repeat: int
) -> dict[str, float]:
    """``interleaved`` for samplers that are awaited."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for order in itertools.islice(rotations(list(candidates)), repeat):
        for name in order:
            samples[name].append(await candidates[name]())
    return {name: statistics.median(values) for name, values in samples.items()}


def rotations(names: list[str]) -> Iterator[list[str]]:
    """*names* in a rotating order, one rotation a round, without end."""
    for i in itertools.count():
        shift = i % len(names)
        yield names[shift:] + names[:shift]


def shuffles(names: list[str], seed: int) -> Iterator[list[str]]:
    """*names* in a new random order each round (the same orders for the
    same *seed*), without end."""
    orders = random.Random(seed)  # noqa: S311 (an order to time in, not a secret)
    while True:
        yield orders.sample(names, k=len(names))


def fresh_samples(
    steps: Mapping[str, Callable[[T], object]],
    fresh: Callable[[], T],
    number: int,
) -> dict[str, Callable[[], float]]:
    """One sampler per step (for ``interleaved``): seconds per call over
    *number* fresh inputs, built before the clock starts, the garbage
    collector off while timing (as ``timeit`` has it)."""

    def sampler(step: Callable[[T], object]) -> Callable[[], float]:
        def sample() -> float:
            inputs = [fresh() for _ in range(number)]
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                for one in inputs:
                    step(one)
                return (time.perf_counter() - start) / number
            finally:
                gc.enable()

        return sample

    return {name: sampler(step) for name, step in steps.items()}


class _Rounds:
    """Each candidate's times, and each round's ratios to the first's."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.times: dict[str, list[float]] = {name: [] for name in names}
        self.ratios: dict[str, list[float]] = {name: [] for name in names}

    def end_round(self) -> None:
        first = self.times[self.names[0]][-1]
        for name in self.names:
            self.ratios[name].append(self.times[name][-1] / first)

    def medians(self) -> dict[str, float]:
        out = {name: statistics.median(values) for name, values in self.times.items()}
        for name, values in self.ratios.items():
            out[f"{name} ratio"] = statistics.median(values)
        return out


def per_round_ratios(
    call: Callable[[T], object],
    candidates: Mapping[str, T],
    orders: Iterator[list[str]],
    rounds: int,
) -> dict[str, float]:
    """The median time of ``call(candidate)`` for each of *candidates*, and
    under "NAME ratio" the median of its ratio to the first's within a round.

    Each round calls every candidate once, in the round's order from
    *orders* (``rotations`` or ``shuffles`` of the names): on a loaded
    machine, medians of batches drift by several percent between two
    identical candidates, and a round's calls share its conditions. The
    garbage collector is off while timing (as ``timeit`` has it): its pauses
    land on whichever call crosses its threshold.
    """
    clock = time.perf_counter
    kept = _Rounds(list(candidates))
    gc.collect()
    gc.disable()
    try:
        for order in itertools.islice(orders, rounds):
            for name in order:
                start = clock()
                call(candidates[name])
                kept.times[name].append(clock() - start)
            kept.end_round()
    finally:
        gc.enable()
    return kept.medians()


async def per_round_ratios_async(
    call: Callable[[T], Awaitable[object]],
    candidates: Mapping[str, T],
    orders: Iterator[list[str]],
    rounds: int,
) -> dict[str, float]:
    """``per_round_ratios`` for a call that is awaited; the garbage collector
    is left on."""
    clock = time.perf_counter
    kept = _Rounds(list(candidates))
    for order in itertools.islice(orders, rounds):
        for name in order:
            start = clock()
            await call(candidates[name])
            kept.times[name].append(clock() - start)
        kept.end_round()
    return kept.medians()


def round_ratio_lines(medians: dict[str, float], names: list[str]) -> list[Candidate]:
    """A line per name of ``per_round_ratios``' *medians*: its median time,
    and its median ratio to the first candidate's within a round."""
    return [
        Candidate(name, fmt_time(medians[name]), f"{medians[f'{name} ratio']:.3f}")
        for name in names
    ]


def calibrate(func: Callable[[], object], target: float = 0.02) -> int:
    """How many calls of *func* take about *target* seconds (at least 1)."""
    number = 1
    while True:
        if per_call(func, number) * number >= target / 4 or number >= 1 << 22:
            break
        number *= 4
    elapsed = per_call(func, number) * number
    return max(1, int(number * target / max(elapsed, 1e-9)))


def fmt_time(seconds: float) -> str:
    """A duration with a unit that suits it."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


class Ticker:
    """The longest gap between wake-ups of a task sleeping *period* seconds
    (5 ms by default) at a time."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.max_gap = 0.0
        self.done = False

    async def run(self, sleep: Callable[[float], Awaitable[object]]) -> None:
        last = time.perf_counter()
        while not self.done:
            await sleep(self.period)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now


NOT_INSTALLED = "not installed"


@attrs.define
class Settings:
    """How hard to try: the full run, or a smoke run of seconds."""

    smoke: bool = False

    def pick(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full


@attrs.define
class Candidate:
    name: str
    value: str
    ratio: str


@attrs.define
class Row:
    case: str
    baseline: str
    target: str
    met: bool | None = None
    candidates: list[Candidate] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)

    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "n/a"}[self.met]


def ratios(
    medians: dict[str, float], baseline: str, names: list[str]
) -> list[Candidate]:
    """The baseline's line, then one per name: its median against the baseline."""
    base = medians[baseline]
    out = [Candidate(baseline, fmt_time(base), "1.00")]
    for name in names:
        if name in medians:
            value = medians[name]
            out.append(Candidate(name, fmt_time(value), f"{value / base:.2f}"))
        else:
            out.append(Candidate(name, NOT_INSTALLED, "-"))
    return out


def timed(
    funcs: dict[str, Callable[[], object]], settings: Settings
) -> dict[str, float]:
    """The interleaved medians of *funcs*, each sample ~20 ms (smoke: ~2 ms)."""
    target = 0.002 if settings.smoke else 0.02
    numbers = {name: calibrate(func, target) for name, func in funcs.items()}
    samples = {
        name: (lambda f=func, n=numbers[name]: per_call(f, n))
        for name, func in funcs.items()
    }
    return interleaved(samples, settings.pick(41, 3))
