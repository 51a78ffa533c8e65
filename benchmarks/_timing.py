"""Timing helpers: interleaved cases, repeated samples, medians, ratios.

The machines are noisy, so no figure stands alone: every case times its
baseline in the same process, the candidates are interleaved (each sample
runs every candidate once, in a rotating order), and a figure is the median
of the samples.

Here too are the values every case returns (``Row``, one per case, and its
``Candidate`` lines) and what turns medians into them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Mapping

import attrs


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
    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeat):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(candidates[name]())
    return {name: statistics.median(values) for name, values in samples.items()}


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
