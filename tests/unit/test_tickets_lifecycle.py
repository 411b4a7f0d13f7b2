import itertools

import pytest

from db.tickets import ALLOWED, Status, TransitionError, check_transition, format_number

HAPPY_PATHS = [
    ["new", "in_progress", "answered", "closed"],
    ["new", "in_progress", "answered", "follow_up", "closed"],
    ["new", "in_progress", "referred", "follow_up", "closed"],
    ["new", "in_progress", "referred", "closed", "reopened", "in_progress", "answered", "closed"],
]


@pytest.mark.parametrize("path", HAPPY_PATHS, ids="->".join)
def test_documented_paths_are_allowed(path: list[str]) -> None:
    for src, dst in itertools.pairwise(path):
        assert check_transition("YN-20261127-000001", src, dst) == Status(dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("new", "closed"),
        ("new", "answered"),
        ("closed", "in_progress"),
        ("follow_up", "answered"),
        ("answered", "referred"),
        ("reopened", "closed"),
        ("closed", "closed"),
    ],
)
def test_disallowed_transition_names_both_states(src: str, dst: str) -> None:
    with pytest.raises(TransitionError) as err:
        check_transition("YN-20261127-000001", src, dst)
    assert repr(src) in str(err.value) and repr(dst) in str(err.value)
    assert "YN-20261127-000001" in str(err.value)


def test_unknown_status_is_refused() -> None:
    with pytest.raises(TransitionError, match="'done'"):
        check_transition("YN-20261127-000001", "new", "done")


def test_every_status_can_eventually_close() -> None:
    for start in Status:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in ALLOWED[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert Status.CLOSED in seen, start


def test_number_format() -> None:
    import datetime as dt

    assert format_number("YN", dt.date(2026, 11, 27), 123) == "YN-20261127-000123"
