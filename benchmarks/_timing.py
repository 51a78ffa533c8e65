"""Timing helpers: interleaved cases, repeated samples, medians, ratios.

The machines are noisy, so no figure stands alone: every case times its
baseline in the same process, the candidates are interleaved (each sample
runs every candidate once, in a rotating order), and a figure is the median
of the samples.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


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
