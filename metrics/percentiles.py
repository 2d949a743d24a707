"""The exact percentile of many sorted lists, found by counting instead of sorting every value.

Each long list is known first by its length and its samples (every ``step``-th value from the first,
``samples_of``). The samples bound how many values of each list lie at or below any value, so they give a
narrow range of values sure to hold the two ranks the percentile interpolates between; only the slices of
the lists that can hold values in that range are read, and the ranks are counted off exactly. A year of a
district reads a few thousand samples and slices instead of sorting nearly a million values.

The result is PostgreSQL's ``percentile_cont``, float for float: linear interpolation between the values
at the closest ranks, as ``metrics.workhours.percentile``.
"""

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import chain

# Samples kept per list: phase one reads about this many values per list, phase two about two steps
# (length / SAMPLES) per list. Around the square root of twice a street-month's length balances the two.
SAMPLES = 128


def sample_step(length: int) -> int:
    return max(1, -(-length // SAMPLES))


def samples_of(values: list[int]) -> list[int]:
    """The samples kept with the sorted ``values``: the first and every ``sample_step``-th after it."""
    return values[:: sample_step(len(values))]


@dataclass
class SortedList:
    """A sorted list of ``length`` values known by its samples, every ``step``-th value from the first (the
    step is kept with the samples: a later SAMPLES does not change what stored samples mean); ``ref`` names
    it for reading a slice. A list whose step is 1 is known whole (its samples are its values)."""

    ref: object
    length: int
    samples: list[int]
    step: int

    @property
    def whole(self) -> bool:
        return self.step == 1

    def at_most(self, value) -> tuple[int, int]:
        """Bounds (low, high) on how many of the values are <= ``value``, from the samples alone."""
        seen = bisect_right(self.samples, value)
        if not seen:
            return 0, 0
        return 1 + (seen - 1) * self.step, min(seen * self.step, self.length)


def ranks(length: int, fraction: float) -> tuple[int, int, float]:
    """The 1-based ranks percentile_cont interpolates between, and the position between them."""
    position = fraction * (length - 1)
    low = math.floor(position)
    return low + 1, math.ceil(position) + 1, position - low


@dataclass
class Bracket:
    """Slices (1-based, inclusive) of each list that hold every value above ``low`` up to ``high`` (None:
    unbounded), and how many values of the multiset lie at or below the values before the slices."""

    low: int | None
    high: int | None
    slices: list[tuple[int, int]]
    before: int


def _first(candidates: list[int], holds) -> int:
    """The index of the first candidate for which ``holds`` (it holds for every later one too)."""
    lo, hi = 0, len(candidates)
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(candidates[mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


def bracket(lists: list[SortedList], away: list[int], first_rank: int, second_rank: int) -> Bracket:
    """The narrowest range between two sample values sure to hold the values at both ranks of the lists'
    values less ``away`` (sorted, each one of the lists' values): ``low`` the largest sample with at most
    first_rank - 1 values surely at or below it, ``high`` the smallest with at least second_rank."""
    candidates = sorted(set(chain.from_iterable(item.samples for item in lists)))

    def upper(value):
        return sum(item.at_most(value)[1] for item in lists) - bisect_right(away, value)

    def lower(value):
        return sum(item.at_most(value)[0] for item in lists) - bisect_right(away, value)

    found = _first(candidates, lambda value: upper(value) >= first_rank)
    low = candidates[found - 1] if found else None
    found = _first(candidates, lambda value: lower(value) >= second_rank)
    high = candidates[found] if found < len(candidates) else None
    slices, before = [], 0
    for item in lists:
        surely = item.at_most(low)[0] if low is not None else 0
        end = item.at_most(high)[1] if high is not None else item.length
        slices.append((surely + 1, end))
        before += surely
    if low is not None:
        before -= bisect_right(away, low)
    return Bracket(low, high, slices, before)


def resolve(found: Bracket, read: list[list[int]], away: list[int], first_rank: int, second_rank: int):
    """The values at both ranks, given the slices ``found`` asked for (``read``, in the same order)."""
    low, high = found.low, found.high
    before, values = found.before, []
    for part in read:
        for value in part:
            if low is not None and value <= low:
                before += 1
            elif high is None or value <= high:
                values.append(value)
    values.sort()
    # Every value taken away that lies in the range is in the slices: remove one of each.
    for value in away[bisect_right(away, low) if low is not None else 0 :]:
        if high is not None and value > high:
            break
        at = bisect_left(values, value)
        if at == len(values) or values[at] != value:
            raise RuntimeError("A value taken away is not among the kept working times: run rebuild_rollups.")
        del values[at]
    first, second = first_rank - before - 1, second_rank - before - 1
    if not (0 <= first <= second < len(values)):
        raise RuntimeError("The kept working times do not match their samples: run rebuild_rollups.")
    return values[first], values[second]


def interpolate(first: int, second: int, proportion: float) -> float:
    """percentile_cont's interpolation in double precision, as PostgreSQL computes it."""
    first, second = float(first), float(second)
    return first + (second - first) * proportion


class Percentile:
    """The exact percentile over the values of ``lists`` less the values ``away`` (each one of theirs: the
    days a month's list holds beyond a period), in two steps so that many of them read their slices
    together: ``requests`` names the slices to read ((ref, start, end) of the lists not known whole),
    ``value`` takes what was read, by request."""

    def __init__(self, lists: list[SortedList], fraction: float, away: list[int] = ()):
        self.lists = lists
        self.away = sorted(away)
        self.length = sum(item.length for item in lists) - len(self.away)
        if self.length:
            self.first_rank, self.second_rank, self.proportion = ranks(self.length, fraction)
            self.found = bracket(lists, self.away, self.first_rank, self.second_rank)

    @property
    def requests(self) -> list[tuple]:
        if not self.length:
            return []
        return [
            (item.ref, start, end)
            for item, (start, end) in zip(self.lists, self.found.slices, strict=True)
            if not item.whole and start <= end
        ]

    def value(self, fetched: dict[tuple, list[int]]) -> float | None:
        if not self.length:
            return None
        read = []
        for item, (start, end) in zip(self.lists, self.found.slices, strict=True):
            if start > end:
                read.append([])
            elif item.whole:
                read.append(item.samples[start - 1 : end])
            else:
                read.append(fetched[(item.ref, start, end)])
        first, second = resolve(self.found, read, self.away, self.first_rank, self.second_rank)
        return interpolate(first, second, self.proportion)
