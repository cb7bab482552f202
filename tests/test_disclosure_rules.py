"""The disclosure policy: presets, validation, settings and sources."""

from __future__ import annotations

import pytest

from evalkit.disclosure import SOURCES, DisclosurePolicy, round_to_base
from evalkit.errors import ConfigError


def test_hes_default_hand_worked():
    p = DisclosurePolicy()
    assert (p.name, p.threshold, p.rounding, p.zeros, p.symbol) == ("nhs", 8, 5, "show", "*")
    assert [p.publish_count(v) for v in range(0, 16)] == [
        0, "*", "*", "*", "*", "*", "*", "*", 10, 10, 10, 10, 10, 15, 15, 15]
    assert p.count_protection == 7
    assert p.too_few(7) and not p.too_few(8) and not p.too_few(0)


def test_ons_10_5_hand_worked():
    p = DisclosurePolicy.ons()
    assert [p.publish_count(v) for v in (9, 10, 12, 13, 127)] == ["*", 10, 10, 15, 125]


def test_round_to_base():
    assert [round_to_base(v, 5) for v in (0, 2, 3, 7, 8, 22, 23)] == [0, 0, 5, 5, 10, 20, 25]
    assert round_to_base(7.4, 1) == 7


def test_dominance_rule_hand_worked():
    p = DisclosurePolicy()
    assert p.dominated(1000, 801)           # one person > 80%
    assert not p.dominated(1000, 800)       # exactly 80% is not "more than"
    assert p.dominated(1000, 600, 301)      # two people > 90%
    assert not p.dominated(1000, 600, 300)
    assert not p.dominated(0, 0)
    assert p.dominance_from_contributions([-900, 50, 50])   # absolute values
    p3 = DisclosurePolicy(dominance=((3, 0.75),))
    assert p3.dominance_from_contributions([300, 250, 250, 100, 100])
    with pytest.raises(Exception, match="needs every contribution"):
        p3.dominated(1000, 500, 200)


@pytest.mark.parametrize("settings,expect", [
    (None, ("nhs", 8, 5)),
    ("ons", ("ons", 10, 5)),
    ({"rule": "nhs_hes"}, ("nhs", 8, 5)),
    ({"rule": "ons_10_5", "symbol": "[c]"}, ("ons", 10, 5)),
    ({"rule": "custom", "threshold": 5, "rounding": 5}, ("custom", 5, 5)),
    ({"rule": "custom", "threshold": 11, "rounding": 1}, ("custom", 11, 1)),
    ({"rule": "nhs", "dominance_n": 2, "dominance_k": 0.85}, ("nhs", 8, 5)),
    ({"rule": "nhs", "enabled": True, "allowed_postcodes": ["AN1 1AA"]}, ("nhs", 8, 5)),
])
def test_from_settings(settings, expect):
    p = DisclosurePolicy.from_settings(settings)
    assert (p.name, p.threshold, p.rounding) == expect


def test_from_settings_dominance_pair():
    p = DisclosurePolicy.from_settings({"dominance_n": 2, "dominance_k": 0.85})
    assert p.dominance == ((2, 0.85),)
    assert DisclosurePolicy.from_settings({"dominance": [[1, 0.7]]}).dominance == ((1, 0.7),)


@pytest.mark.parametrize("settings,message", [
    ({"rule": "nhs", "threshold": 5}, "use rule: custom"),
    ({"rule": "custom"}, "needs a threshold"),
    ({"rule": "strict"}, "expected one of"),
    ({"rule": "custom", "threshold": 6}, "below the threshold"),   # 6 would show as 5
    ({"rule": "custom", "threshold": 2}, "below the threshold"),   # 2 would show as 0
    ({"zeros": "hide"}, "'show' or 'suppress'"),
    ({"symbol": "0"}, "without digits"),
    ({"dominance": [[1, 1.5]]}, "k a fraction"),
    ({"secondary": False, "rule": "custom", "threshold": 5, "rounding": 1}, "subtraction"),
    ({"bogus": 1}, "unknown key"),
    ({"enabled": False}, "not allowed"),
])
def test_bad_settings_are_clear(settings, message):
    with pytest.raises(ConfigError, match=message):
        DisclosurePolicy.from_settings(settings)


def test_disabled_settings_allowed_for_the_scan():
    assert DisclosurePolicy.from_settings({"enabled": False}, allow_disabled=True).threshold == 8


def test_policy_is_immutable_and_copyable():
    p = DisclosurePolicy()
    with pytest.raises(AttributeError):
        p.threshold = 3  # type: ignore[misc]
    assert p.with_(symbol="c").symbol == "c" and p.symbol == "*"


def test_every_default_cites_its_source():
    text = DisclosurePolicy.nhs().describe()
    assert "Hospital Episode Statistics" in text and "digital.nhs.uk" in text
    assert "Fischetti" in text and "Hundepool" in text and "dominance" in text
    assert "10-5" in DisclosurePolicy.ons().describe()
    for key in ("nhs", "ons", "secondary", "dominance", "pseudonymisation"):
        assert len(SOURCES[key]) > 80
    for fn in (DisclosurePolicy.nhs, DisclosurePolicy.ons, DisclosurePolicy.from_settings):
        assert fn.__doc__
    assert "NHS Digital" in DisclosurePolicy.nhs.__doc__
    assert "ONS" in DisclosurePolicy.ons.__doc__


def test_footnote_mentions_rounding_and_zero_policy():
    assert "nearest 5" in DisclosurePolicy().footnote()
    assert "from 0 to 7 people" in DisclosurePolicy(zeros="suppress").footnote()
    assert "nearest" not in DisclosurePolicy.custom(8, rounding=1).footnote()
