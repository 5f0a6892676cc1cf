import json

import pytest

from integration.core.rules import DEFAULT_RULES, RulesError, load_rules, load_rules_file


def test_empty_rules_are_the_defaults():
    assert load_rules({}) == DEFAULT_RULES
    assert load_rules(None) == DEFAULT_RULES
    assert "billing_dispute" in DEFAULT_RULES.topics


def test_partial_rules_override_only_what_they_name():
    rules = load_rules({"loop": {"rephrases": 1}, "sentiment": {"threshold": 0.7}})
    assert rules.loop.rephrases == 1
    assert rules.loop.stalled_exchanges == DEFAULT_RULES.loop.stalled_exchanges
    assert rules.sentiment.threshold == 0.7
    assert rules.topics == DEFAULT_RULES.topics


@pytest.mark.parametrize("data, problem", [
    ({"sentimnt": {}}, "sentimnt: unknown field"),
    ({"sentiment": {"threshold": 1.5}}, "sentiment.threshold: must be between 0 and 1 (got 1.5)"),
    ({"sentiment": {"threshold": "high"}}, "sentiment.threshold: must be a number"),
    ({"explicit_request": {"action": "panic"}}, "explicit_request.action: must be one of escalate, offer_human, raise_priority, ignore"),
    ({"loop": {"rephrases": 0}}, "loop.rephrases: must be at least 1"),
    ({"segment": {"tiers": "vip"}}, "segment.tiers: must be a list of str"),
    ({"topics": {"warranty": {"label": "warranty"}}}, "topics.warranty.phrases: required"),
    ({"topics": {"warranty": {"label": "w", "phrases": ["re:(unclosed"]}}}, "topics.warranty.phrases[0]: bad regular expression"),
    ({"topics": {"Bad Name": {"label": "x", "phrases": ["x"]}}}, "topics.Bad Name: topic names are lower_snake_case"),
    ({"topics": {"legal": {"tier": 5}}}, "topics.legal.tier: must be 1, 2 or 3"),
    ({"model": {"enabled": "yes"}}, "model.enabled: must be bool"),
    ([], "rules: must be a JSON object"),
])
def test_bad_rules_name_the_bad_field(data, problem):
    with pytest.raises(RulesError) as e:
        load_rules(data)
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_all_problems_are_reported_at_once():
    with pytest.raises(RulesError) as e:
        load_rules({"sentiment": {"threshold": 2}, "loop": {"rephrases": -1}})
    assert len(e.value.problems) == 2


def test_rules_file_with_broken_json_says_where(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('{"sentiment": {"threshold": 0.4,}}')
    with pytest.raises(RulesError) as e:
        load_rules_file(path)
    assert "not valid JSON" in str(e.value) and "line 1" in str(e.value)
    path.write_text(json.dumps({"sentiment": {"threshold": 0.4}}))
    assert load_rules_file(path).sentiment.threshold == 0.4
