from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration.core.engine import evaluate
from integration.core.model import Customer
from integration.core.routing import Agent, BusinessHours, CategoryRoute, Group, Roster, RoutingRule, route
from tests.builders import conv

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS_9_TO_5 = {d: ((time(9), time(17)),) for d in ("mon", "tue", "wed", "thu", "fri")}
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=PARIS)  # a Wednesday morning in Paris


# business hours


@pytest.mark.parametrize("at, open_", [
    (datetime(2026, 11, 18, 8, 59, tzinfo=PARIS), False),
    (datetime(2026, 11, 18, 9, 0, tzinfo=PARIS), True),
    (datetime(2026, 11, 18, 16, 59, tzinfo=PARIS), True),
    (datetime(2026, 11, 18, 17, 0, tzinfo=PARIS), False),
    (datetime(2026, 11, 21, 12, 0, tzinfo=PARIS), False),  # Saturday
    (datetime(2026, 11, 18, 8, 30, tzinfo=timezone.utc), True),  # 09:30 in Paris
    (datetime(2026, 11, 18, 3, 30, tzinfo=ZoneInfo("America/New_York")), True),  # 09:30 in Paris
])
def test_open_is_judged_in_the_groups_time_zone(at, open_):
    assert BusinessHours("Europe/Paris", WEEKDAYS_9_TO_5).is_open(at) is open_


def test_next_opening_after_friday_evening_is_monday_morning():
    hours = BusinessHours("Europe/Paris", WEEKDAYS_9_TO_5)
    assert hours.next_opening(datetime(2026, 11, 20, 18, 0, tzinfo=PARIS)) == datetime(2026, 11, 23, 9, 0, tzinfo=PARIS)


def test_public_holidays_and_closed_dates_are_skipped():
    hours = BusinessHours("Europe/Paris", WEEKDAYS_9_TO_5, holidays_country="FR")
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=PARIS)  # a Friday
    assert not hours.is_open(christmas)
    assert hours.next_opening(christmas) == datetime(2026, 12, 28, 9, 0, tzinfo=PARIS)
    closed = replace(hours, closed_dates=frozenset({date(2026, 12, 28)}))
    assert closed.next_opening(christmas) == datetime(2026, 12, 29, 9, 0, tzinfo=PARIS)


def test_opening_hours_follow_daylight_saving_time():
    hours = BusinessHours("Europe/Paris", WEEKDAYS_9_TO_5)
    # Paris moved to summer time on Sunday 29 March 2026: 09:00 local is 07:00 UTC after, 08:00 UTC before
    assert hours.is_open(datetime(2026, 3, 27, 8, 0, tzinfo=timezone.utc))
    assert not hours.is_open(datetime(2026, 3, 30, 6, 30, tzinfo=timezone.utc))
    assert hours.is_open(datetime(2026, 3, 30, 7, 0, tzinfo=timezone.utc))
    opening = hours.next_opening(datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc))
    assert opening.astimezone(timezone.utc) == datetime(2026, 3, 30, 7, 0, tzinfo=timezone.utc)


def test_always_closed_has_no_opening():
    assert BusinessHours("UTC", {}).next_opening(NOW) is None


# routing

RULE = RoutingRule(
    categories={"billing_dispute": CategoryRoute(group="billing", skills=("billing",)),
                "legal": CategoryRoute(group="legal")},
    segments={"vip": "accounts"}, tiers={"3": "engineering"}, default_group="support",
)


def roster(*agents: Agent, billing_hours: BusinessHours | None = None, replies: tuple[float, ...] = ()) -> Roster:
    groups = {g: Group(g, g.capitalize() + " team", first_replies=replies) for g in ("support", "accounts", "legal", "engineering")}
    groups["billing"] = Group("billing", "Billing team", billing_hours, queue_depth=2, first_replies=replies)
    return Roster(agents, groups)


def agent(id: str, group: str = "billing", **kw) -> Agent:
    return Agent(id, id.upper(), groups=frozenset({group}), skills=frozenset(kw.pop("skills", {"billing"})), **kw)


BILLING = conv("I was charged twice for my subscription!!")


def decide(c=BILLING):
    return evaluate(c)


@pytest.mark.parametrize("agents, chosen, passed", [
    ([agent("a", load=2), agent("b", load=1)], "b", {"a": "busier or less idle than the chosen agent"}),
    ([agent("a", online=False), agent("b", load=4)], "b", {"a": "offline"}),
    ([agent("a", load=5, capacity=5), agent("b", load=1)], "b", {"a": "at capacity (5/5)"}),
    ([agent("a", skills=set()), agent("b", load=3)], "b", {"a": "missing skills: billing"}),
    ([agent("a", idle_since=NOW - timedelta(minutes=5)), agent("b", idle_since=NOW - timedelta(hours=2))], "b",
     {"a": "busier or less idle than the chosen agent"}),
    ([agent("a", online=False), agent("b", load=5, capacity=5)], None, {"a": "offline", "b": "at capacity (5/5)"}),
])
def test_least_loaded_qualified_agent_with_reasons_for_the_others(agents, chosen, passed):
    r = route(decide(), BILLING, roster(*agents), RULE, NOW)
    assert r.group_id == "billing" and r.agent_id == chosen and r.live
    assert {c.agent_id: c.why for c in r.candidates if not c.chosen} == passed
    if chosen is None:
        assert "left in the group queue" in r.explanation


def test_continuity_prefers_the_agent_who_helped_recently_when_fit():
    agents = [agent("a", load=0), agent("prev", load=3)]
    r = route(decide(), BILLING, roster(*agents), RULE, NOW, previous_agents=["prev"])
    assert r.agent_id == "prev" and "helped this customer recently" in r.explanation
    busy = [agent("a", load=0), agent("prev", load=5, capacity=5)]
    r = route(decide(), BILLING, roster(*busy), RULE, NOW, previous_agents=["prev"])
    assert r.agent_id == "a"
    assert any(c.agent_id == "prev" and "at capacity" in c.why for c in r.candidates)


def test_language_match_is_preferred_and_said_when_impossible():
    es = conv("Me cobraron dos veces, quiero hablar con un agente", customer=Customer(language="es"))
    agents = [agent("en1", languages=frozenset({"en"})), agent("es1", languages=frozenset({"es", "en"}), load=3)]
    r = route(decide(es), es, roster(*agents), RULE, NOW)
    assert r.agent_id == "es1"
    assert {c.agent_id: c.why for c in r.candidates if not c.chosen} == {"en1": "does not speak es"}
    r = route(decide(es), es, roster(agent("en1", languages=frozenset({"en"}))), RULE, NOW)
    assert r.agent_id == "en1" and "nobody in the group speaks es" in r.explanation
    assert r.customer_message.startswith("Te estoy conectando con nuestro equipo")


def test_vip_goes_to_the_account_team():
    vip = conv("Can we add ten seats?", customer=Customer(tier="vip"))
    r = route(decide(vip), vip, roster(agent("am", group="accounts", skills=set())), RULE, NOW)
    assert r.group_id == "accounts" and r.agent_id == "am"
    assert "vip customers go to their account team" in r.explanation


def test_after_hours_queues_without_live_assignment_and_says_when():
    hours = BusinessHours("Europe/Paris", WEEKDAYS_9_TO_5)
    friday_night = datetime(2026, 11, 20, 22, 0, tzinfo=PARIS)
    c = conv("I was charged twice!!", customer=Customer(timezone="America/New_York"))
    r = route(decide(c), c, roster(agent("a"), billing_hours=hours), RULE, friday_night)
    assert (r.group_id, r.agent_id, r.live) == ("billing", None, False)
    assert r.opens_at == datetime(2026, 11, 23, 9, 0, tzinfo=PARIS)
    assert "Monday 23 November, 03:00 America/New_York" in r.customer_message  # the customer's clock
    assert "no live assignment" in r.explanation


def test_wait_estimate_only_with_enough_data():
    r = route(decide(), BILLING, roster(agent("a"), replies=(4.0, 6.0)), RULE, NOW)
    assert r.wait_minutes is None and "minutes" not in r.customer_message
    r = route(decide(), BILLING, roster(agent("a"), replies=(4.0, 6.0, 5.0, 5.0, 7.0)), RULE, NOW)
    assert r.wait_minutes == 5.0 and "within about 5 minutes" in r.customer_message
    queued = route(decide(), BILLING, roster(agent("a", online=False), replies=(4.0, 6.0, 5.0, 5.0, 7.0)), RULE, NOW)
    assert queued.agent_id is None and queued.wait_minutes == 5.0 * (1 + 2 / 1)  # two waiting ahead


def test_admin_templates_override_ours():
    rule = replace(RULE, messages={"handoff": {"en": "Hang on, {team} is coming."}})
    assert route(decide(), BILLING, roster(agent("a")), rule, NOW).customer_message == "Hang on, our team is coming."


def test_customers_hear_a_team_name_only_when_the_admin_chose_one_and_never_for_sensitive_topics():
    assert "Billing team" not in route(decide(), BILLING, roster(agent("a")), RULE, NOW).customer_message
    named = replace(RULE, public_names={"billing": "our billing specialists"})
    assert "connecting you with our billing specialists" in route(decide(), BILLING, roster(agent("a")), named,
                                                                   NOW).customer_message
    threat = conv("Your update deleted our data, my lawyer will be in touch")
    legal = replace(named, categories={**RULE.categories, "legal": CategoryRoute("billing")},
                    public_names={"billing": "Legal"})
    hours = BusinessHours("Europe/Paris", WEEKDAYS_9_TO_5)
    friday_night = datetime(2026, 11, 20, 22, 0, tzinfo=PARIS)
    r = route(decide(threat), threat, roster(agent("a"), billing_hours=hours), legal, friday_night)
    assert decide(threat).category == "legal" and not r.live
    assert "Legal" not in r.customer_message and "our team" in r.customer_message
    assert "billing" in r.explanation or "legal" in r.explanation  # the agent still reads where it went


# properties

agents_strategy = st.lists(st.builds(
    Agent, id=st.text("abcdef", min_size=1, max_size=4), groups=st.just(frozenset({"billing"})),
    skills=st.sampled_from([frozenset(), frozenset({"billing"})]), languages=st.sampled_from([frozenset(), frozenset({"en"}), frozenset({"fr"})]),
    online=st.booleans(), capacity=st.integers(1, 5), load=st.integers(0, 6),
    idle_since=st.none() | st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 11, 1)).map(lambda d: d.replace(tzinfo=timezone.utc)),
), max_size=12, unique_by=lambda a: a.id)


@settings(max_examples=300, deadline=None)
@given(agents_strategy, st.lists(st.text("abcdef", min_size=1, max_size=4), max_size=2))
def test_never_offline_or_over_capacity_and_qualified_preferred_and_deterministic(agents, previous):
    ros = roster(*agents)
    r = route(decide(), BILLING, ros, RULE, NOW, previous_agents=previous)
    qualified = [a for a in agents if a.online and a.load < a.capacity and "billing" in a.skills]
    if r.agent_id is not None:
        chosen = ros.agent(r.agent_id)
        assert chosen.online and chosen.load < chosen.capacity
        assert "billing" in chosen.skills
    assert (r.agent_id is None) == (not qualified)  # a qualified agent is used whenever one is free
    assert route(decide(), BILLING, ros, RULE, NOW, previous_agents=previous) == r


def test_templates_per_reason_come_before_the_kind():
    rule = replace(RULE, messages={"handoff:billing_dispute": {"en": "A billing specialist is on the way."},
                                   "handoff": {"en": "Someone is on the way."}})
    assert route(decide(), BILLING, roster(agent("a")), rule, NOW).customer_message == "A billing specialist is on the way."
    vip = conv("Can we add ten seats?", customer=Customer(tier="vip"))
    assert route(decide(vip), vip, roster(agent("am", group="accounts", skills=set())), rule, NOW).customer_message \
        == "Someone is on the way."
