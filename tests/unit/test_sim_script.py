"""The simulator's script (hotline.sim.script): seeded, in the profile's proportions, with numbers that geocode."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from pydantic import ValidationError

from hotline.caller.phone import parse_caller
from hotline.sim.script import Profile, callers, shifts


def test_the_same_seed_gives_the_same_script_and_another_seed_another() -> None:
    profile = Profile()
    assert callers(profile, 5, 3600, 6) == callers(profile, 5, 3600, 6)
    assert callers(profile, 5, 3600, 6) != callers(profile, 6, 3600, 6)
    first = list(itertools.islice(shifts(profile, 5, 1), 20))
    assert first == list(itertools.islice(shifts(profile, 5, 1), 20))
    assert first != list(itertools.islice(shifts(profile, 5, 2), 20))


def test_arrivals_are_poisson_at_the_rate_within_the_duration() -> None:
    script = callers(Profile(), 11, 10 * 3600, 6)
    assert 0.9 * 3600 < len(script) < 1.1 * 3600  # 6 a minute for 10 hours
    times = [c.at for c in script]
    assert times == sorted(times) and 0 <= times[0] and times[-1] < 10 * 3600
    assert [c.n for c in script] == list(range(1, len(script) + 1))


def test_paths_origins_and_shares_follow_the_profile() -> None:
    profile = Profile(
        paths={"1 2": 3, "1 3": 1},
        origins={"大理": 1, "outside": 1},
        mobile_share=0.5,
        abandon_share=0.25,
        callback_share=0.0,
        survey_share=1.0,
    )
    script = callers(profile, 3, 40 * 3600, 2)
    n = len(script)
    paths = Counter(" ".join(c.digits) for c in script)
    assert set(paths) == {"1 2", "1 3"} and 2.6 < paths["1 2"] / paths["1 3"] < 3.4
    places = Counter()
    for c in script:
        number = parse_caller(c.number)
        assert number.masked == c.masked
        places[number.prefecture.short if number.prefecture else "outside"] += 1
    assert set(places) == {"大理", "outside"} and 0.45 < places["大理"] / n < 0.55
    assert 0.2 < sum(c.patience is not None for c in script) / n < 0.3
    assert not any(c.callback for c in script)
    assert all(len(c.survey) == 3 for c in script)


def test_no_two_callers_of_a_run_show_the_same_masked_number() -> None:
    script = callers(Profile(origins={"昆明": 1}, mobile_share=1.0), 1, 3 * 3600, 20)
    assert len({c.masked for c in script}) == len(script) > 3000


def test_survey_answers_are_the_profiles_keys() -> None:
    profile = Profile(survey_answers={"satisfaction": {"3": 1}, "first_choice": {"1": 1, "2": 1}})
    answers = {c.survey for c in callers(profile, 2, 3600, 10) if c.survey}
    assert answers and all(a[0] == "3" and a[1] in "12" and len(a) == 2 for a in answers)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("paths", {"1 x": 1}, "expected keys 0-9"),
        ("paths", {"1 2": 0}, "no path has a weight above 0"),
        ("origins", {"Paris": 1}, "unknown origins"),
        ("survey_answers", {"satisfaction": {"12": 1}}, "expected single keys"),
        ("abandon_share", 1.5, "less than or equal to 1"),
        ("talkk", {"min": 1, "max": 2}, "Extra inputs"),
    ],
)
def test_a_bad_profile_is_refused_with_the_field_named(field: str, value: object, said: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Profile.model_validate({field: value})
    assert said in str(caught.value) and field in str(caught.value)


@pytest.mark.parametrize(("duration", "rate"), [(0, 1), (60, 0), (-5, 2)])
def test_a_run_needs_a_duration_and_a_rate(duration: float, rate: float) -> None:
    with pytest.raises(ValueError, match="above 0"):
        callers(Profile(), 1, duration, rate)


def test_the_simulated_agents_get_every_skill_the_flow_can_ask_for() -> None:
    from pathlib import Path

    from hotline.flow.check import load_flow
    from hotline.flow.model import EnqueueNode, SetNode
    from hotline.sim.script import skills_asked

    flow = load_flow(Path("ivr_flows/yunnan_12348.yaml"))
    asked = set(skills_asked(flow))
    nodes = flow.file.nodes.values()
    kinds = {k for n in nodes if isinstance(n, EnqueueNode) for k in n.skills_from}
    assert kinds and {a.split(":", 1)[0] for a in asked} <= kinds
    areas = {n.attributes["legal_area"] for n in nodes if isinstance(n, SetNode) and "legal_area" in n.attributes}
    assert areas and {f"legal_area:{a}" for a in areas} <= asked
    assert "language:彝语" in asked  # from the language menu's choices, not a set node
