"""The percentile found by counting in sorted lists equals percentile_cont over all their values."""

import random

import pytest

from metrics.percentiles import SAMPLES, Percentile, SortedList, interpolate, ranks, sample_step, samples_of


def direct(values, fraction):
    ordered = sorted(values)
    first, second, proportion = ranks(len(ordered), fraction)
    return interpolate(ordered[first - 1], ordered[second - 1], proportion)


def found(lists, fraction, away=()):
    items = [
        SortedList(ref=n, length=len(values), samples=samples_of(values), step=sample_step(len(values)))
        for n, values in enumerate(lists)
    ]
    percentile = Percentile(items, fraction, away)
    reads = []
    fetched = {}
    for ref, start, end in percentile.requests:
        assert 1 <= start <= end <= len(lists[ref])
        fetched[(ref, start, end)] = lists[ref][start - 1 : end]
        reads.append(end - start + 1)
    return percentile.value(fetched), reads


@pytest.mark.parametrize("seed", range(40))
def test_counting_gives_the_value_sorting_gives(seed):
    rng = random.Random(seed)
    lists = []
    for _ in range(rng.randint(1, 30)):
        length = rng.choice([0, 1, 2, 5, SAMPLES - 1, SAMPLES, SAMPLES + 1, 700, 4000])
        # Few distinct values in some lists: ties across sample positions and across lists.
        spread = rng.choice([3, 50, 10**9])
        lists.append(sorted(rng.randrange(spread) for _ in range(length)))
    values = [v for part in lists for v in part]
    # Some values taken away again (a month's list less the days outside the period).
    away = rng.sample(values, rng.randint(0, len(values))) if rng.random() < 0.5 else []
    left = list(values)
    for value in away:
        left.remove(value)
    for fraction in (0.0, 0.5, 0.9, 1.0):
        value, _reads = found(lists, fraction, away)
        if not left:
            assert value is None
        else:
            assert value == direct(left, fraction)


def test_only_slices_near_the_rank_are_read():
    rng = random.Random(7)
    lists = [sorted(rng.randrange(10**12) for _ in range(8000)) for _ in range(24)]
    value, reads = found(lists, 0.9)
    assert value == direct([v for part in lists for v in part], 0.9)
    # 192,000 values; each list gives at most a few sample steps (8000 / 128 = 63 values each).
    assert sum(reads) < 24 * 4 * 63


def test_taking_away_a_value_the_lists_do_not_hold_is_refused():
    values = list(range(0, 2000, 2))
    item = SortedList(ref=0, length=len(values), samples=samples_of(values), step=sample_step(len(values)))
    percentile = Percentile([item], 0.5, away=[999])
    fetched = {(ref, start, end): values[start - 1 : end] for ref, start, end in percentile.requests}
    with pytest.raises(RuntimeError):
        percentile.value(fetched)


def test_samples_that_do_not_match_the_values_are_refused():
    values = list(range(1000))
    item = SortedList(ref=0, length=1000, samples=samples_of(values), step=sample_step(1000))
    percentile = Percentile([item], 0.9)
    ((ref, start, end),) = percentile.requests
    with pytest.raises(RuntimeError):
        percentile.value({(ref, start, end): []})
