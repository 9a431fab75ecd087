"""partners.md: a volume under a tenth or over ten times the partner's recent median is loaded
with a warning in `detail`."""

from __future__ import annotations

from pipelines.run.core import volume_warning


def test_a_volume_within_a_tenth_and_ten_times_the_median_gets_no_warning() -> None:
    assert volume_warning(100, [10, 10, 10]) is None
    assert volume_warning(1, [10, 10, 10]) is None


def test_over_ten_times_and_under_a_tenth_of_the_median_are_warned() -> None:
    assert (
        volume_warning(101, [10, 10, 10])
        == "volume warning: 101 records against a recent median of 10"
    )
    assert (
        volume_warning(0, [10, 10, 10]) == "volume warning: 0 records against a recent median of 10"
    )


def test_the_median_of_an_even_history_is_the_mean_of_the_two_middle_values() -> None:
    # middle values 2 and 3: median 2.5, so 26 is over ten times it (the upper middle, 3, would allow 30)
    assert (
        volume_warning(26, [1, 2, 3, 40])
        == "volume warning: 26 records against a recent median of 2.5"
    )
    assert volume_warning(25, [1, 2, 3, 40]) is None


def test_a_median_of_zero_makes_any_non_empty_day_over_ten_times_it() -> None:
    assert volume_warning(162, [0, 6, 1, 5, 0, 0, 0]) is not None
    assert volume_warning(0, [0, 0, 0]) is None


def test_a_partner_with_no_loaded_history_gets_no_volume_warning() -> None:
    assert volume_warning(1_000_000, []) is None
