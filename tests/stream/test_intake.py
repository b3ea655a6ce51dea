"""The pipeline's intake order: every offset of a partition once, none skipped."""

from __future__ import annotations

from stream.intake import Check, IntakeOrder, Verdict

TP = ("readings", 0)


def started_at(**committed: int) -> IntakeOrder:
    """An order whose consumer started partition ``p<N>`` at ``committed["p<N>"]``."""
    return IntakeOrder(committed=lambda tp: committed.get(f"p{tp[1]}"))


def test_the_expected_offset_is_taken_and_the_next_one_expected() -> None:
    order = started_at(p0=5)
    assert order.check(TP, 5) == Check(Verdict.TAKE)
    order.taken(TP, 5)
    assert order.check(TP, 6) == Check(Verdict.TAKE)


def test_without_a_committed_offset_the_first_event_is_taken_as_it_comes() -> None:
    assert IntakeOrder().check(TP, 42) == Check(Verdict.TAKE)


def test_an_earlier_offset_is_a_second_delivery() -> None:
    order = started_at(p0=0)
    order.taken(TP, 9)
    assert order.check(TP, 9) == Check(Verdict.AGAIN)
    assert order.check(TP, 3) == Check(Verdict.AGAIN)


def test_a_later_offset_names_the_first_one_missing() -> None:
    order = started_at(p0=0)
    order.taken(TP, 312)
    assert order.check(TP, 314) == Check(Verdict.GAP, 313)


def test_the_first_event_after_the_committed_offset_is_a_gap() -> None:
    """The consumer starts a partition at its committed offset: a later first event skipped."""
    assert started_at(p0=250).check(TP, 260) == Check(Verdict.GAP, 250)


def test_partitions_are_independent_and_reset_forgets_them() -> None:
    order = started_at(p0=3)
    order.taken(TP, 10)
    other = ("readings", 1)
    assert order.check(other, 0) == Check(Verdict.TAKE)
    order.reset()
    assert order.check(TP, 3) == Check(Verdict.TAKE)
