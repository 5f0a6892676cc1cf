"""What one customer can make Baton keep or spend, through the whole pipeline on each helpdesk's
sandbox: a decision row stays small whatever the ticket, and an evaluation past its time budget is
decided on what finished, recorded as such, never retried."""
from __future__ import annotations

import json
import logging
import re

from integration.core import limits
from integration.core.rules import load_rules
from integration.service import metrics
from tests.test_console import console, rules_form, session  # noqa: F401  (console: the fixture)
from tests.test_pipeline import desk  # noqa: F401  (the fixture)

PARAGRAPH = "We moved offices and the invoices still go to the old address, which nobody reads any more. "


def test_a_decision_row_stays_under_100_kb_whatever_the_ticket(desk):  # noqa: F811
    cid = desk.driver.new_conversation("Where do the invoices go?")
    for n in range(40):
        desk.driver.say(cid, f"{n} " + PARAGRAPH * 20 + "😡" * 300, role="customer" if n % 2 else "bot")
    desk.driver.say(cid, "I want to talk to a human. " + PARAGRAPH * 300, role="customer")
    (held,) = desk.pipe.process_event(desk.event(cid))
    (row,) = desk.store.decisions.for_ticket(desk.inst.id, cid)
    size = len(json.dumps(row["reasons"])) + len(json.dumps(row["conversation"])) + len(row["explanation"].encode())
    assert size < 100_000
    assert len(row["conversation"]["messages"]) <= limits.MESSAGES
    assert row["action"] == "escalate"
    assert "Baton read the last" in row["explanation"] and "of 42 messages" in row["explanation"]
    desk.pipe.send(held)
    (note,) = desk.driver.notes(cid)
    assert "of 42 messages" in note  # the agent is told what Baton did not read


def test_an_evaluation_out_of_time_is_decided_on_what_finished_and_recorded_not_retried(desk, caplog):  # noqa: F811
    desk.pipe.evaluation_budget = 0.0  # every check finds the time already spent
    before = metrics.OUT_OF_TIME._value.get()
    cid = desk.driver.new_conversation("I want to talk to a human")
    eid = desk.event(cid)
    with caplog.at_level(logging.WARNING, logger="baton.pipeline"):
        assert desk.pipe.process_event(eid) == []  # nothing finished that would hand it over: the bot continues
    (row,) = desk.store.decisions.for_ticket(desk.inst.id, cid)
    assert row["action"] == "continue"
    assert "ran out of time for this evaluation" in row["explanation"]
    assert metrics.OUT_OF_TIME._value.get() == before + 1
    assert [r for r in caplog.records if r.getMessage() == "engine.out-of-time"]
    assert desk.pipe.process_event(eid) == []  # processed once: not retried into the same wall
    assert len(desk.store.decisions.for_ticket(desk.inst.id, cid)) == 1


def test_the_console_refuses_a_pattern_that_needs_backtracking_at_its_field_and_keeps_one_re2_runs(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    new = sorted({int(m) for k in form for m in re.findall(r"^topics\[(\d+)\]", k)})[-1]
    form.update({f"topics[{new}].__key__": "warranty", f"topics[{new}].label": "warranty claim",
                 f"topics[{new}].phrases": "warranty\nre:claim(?! form)", f"topics[{new}].tier": "2"})
    r = client.post("/console/rules", data={**form, "then": "stay"})
    assert r.status_code == 422
    assert re.search(r'id="topics-\d+-phrases-error" role="alert">Baton runs regular expressions in linear time',
                     r.get_data(as_text=True))
    form[f"topics[{new}].phrases"] = "warranty\nre:(a+)+$"  # catastrophic on Python's engine, linear on RE2
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    assert load_rules(store.rules.draft(a.id)["rules"]).topics["warranty"].phrases == ("warranty", "re:(a+)+$")


def test_the_calibration_page_says_what_to_fix_when_the_published_rules_no_longer_load(console, store):
    app, a, _ = console
    store.installations.update(a.id, rules={"sentiment": {"threshold": 7}})  # stored before a check existed
    token, _ = session(app, a)
    r = app.test_client().get("/console/calibration", query_string={"s": token})
    assert r.status_code == 422
    assert "sentiment.threshold: must be between 0 and 1" in r.get_data(as_text=True)
