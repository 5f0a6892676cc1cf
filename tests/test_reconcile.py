"""The reconciliation sweep: helpdesks lose webhooks, so Baton lists what changed since its last sweep
through each helpdesk's incremental API and processes what it never heard of, once. On every sandbox
(with a real web tier that the sandbox's webhooks reach), on both databases; and the three list
endpoints parsed from the vendors' published examples."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import update

import connectors
from connectors.freshdesk.client import FreshdeskClient
from connectors.intercom.client import IntercomClient
from connectors.zendesk.client import ZendeskClient
from integration.core.contract import CHANGED_MAX, oldest_changes
from integration.core.model import Installation
from integration.service.pipeline import Pipeline
from integration.service.settings import Settings
from integration.service.store import decisions, events
from integration.service.tasks import LocalQueue, celery_config
from integration.service.web import create_app
from integration.tools.local import Server, install_into

HUMAN = "I was charged twice and I want to talk to a human"
ROUTINE = "What are your opening hours?"
ROOT = Path(__file__).parents[1] / "connectors"
SEED = 31  # its first draw is under 0.1: with a 10 % loss, the first delivery is surely lost


def fixture(key: str, name: str) -> Any:
    return json.loads((ROOT / key / "fixtures" / "api" / f"{name}.json").read_text())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- each helpdesk's list, from its published example ------------------------------------------------

def installation(provider: str, base_url: str, credentials: dict[str, str]) -> Installation:
    return Installation(id="i1", provider=provider, base_url=base_url, credentials=credentials,
                        webhook_secret="s", settings={"api_user_id": "1"}, rules={})


@responses.activate
def test_zendesk_incremental_export_is_read_page_by_page_from_start_time():
    base = "https://acme.zendesk.com"
    last = fixture("zendesk", "incremental_tickets_cursor")
    first = {**copy.deepcopy(last), "end_of_stream": False,
             "after_url": f"{base}/api/v2/incremental/tickets/cursor.json?cursor=MTU3NjYxMzUzOS4wfHw0Njd8",
             "tickets": [{**last["tickets"][0], "id": 35435, "updated_at": "2011-05-05T09:00:00Z"}]}
    url = f"{base}/api/v2/incremental/tickets/cursor.json"
    responses.get(url, json=first, match=[responses.matchers.query_param_matcher(
        {"start_time": str(int(utc("2011-05-05T08:00:00Z").timestamp())), "exclude_deleted": "true"})])
    responses.get(url, json=last, match=[responses.matchers.query_param_matcher({"cursor": "MTU3NjYxMzUzOS4wfHw0Njd8"})])
    client = ZendeskClient(installation("zendesk", base, {"email": "a@acme.com", "token": "t"}))
    assert client.changed_since(utc("2011-05-05T08:00:00Z")) == [("35435", utc("2011-05-05T09:00:00Z")),
                                                                  ("35436", utc("2011-05-05T10:38:52Z"))]
    # a ticket the export returns (its generated_timestamp moved) but not changed since is left out
    responses.get(url, json={**last, "tickets": first["tickets"] + last["tickets"]})
    assert client.changed_since(utc("2011-05-05T09:30:00Z")) == [("35436", utc("2011-05-05T10:38:52Z"))]


def test_zendesk_start_time_is_always_at_least_a_minute_old():
    """Zendesk refuses a start_time less than a minute old: a sweep asking from "now" asks from earlier."""
    with responses.RequestsMock() as mock:
        mock.get("https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json",
                 json={"tickets": [], "end_of_stream": True, "after_url": None})
        ZendeskClient(installation("zendesk", "https://acme.zendesk.com", {"email": "a", "token": "t"})) \
            .changed_since(datetime.now(timezone.utc))
        start = int(mock.calls[0].request.params["start_time"])
    assert start <= datetime.now(timezone.utc).timestamp() - 60


@responses.activate
def test_freshdesk_tickets_updated_since_oldest_first_following_the_link_header():
    base = "https://acme.freshdesk.com"
    first, second = fixture("freshdesk", "tickets_updated_since")
    url = f"{base}/api/v2/tickets"
    responses.get(url, json=[first], headers={"Link": f'<{url}?updated_since=2015-08-17T12%3A00%3A00Z&page=2>; rel="next"'},
                  match=[responses.matchers.query_param_matcher({
                      "updated_since": "2015-08-17T12:00:00Z", "order_by": "updated_at", "order_type": "asc",
                      "per_page": "100"})])
    responses.get(url, json=[second], match=[responses.matchers.query_param_matcher(
        {"updated_since": "2015-08-17T12:00:00Z", "page": "2"})])
    client = FreshdeskClient(installation("freshdesk", base, {"api_key": "k"}))
    assert client.changed_since(utc("2015-08-17T12:00:00.700000Z")) == [
        ("18", utc("2015-08-17T12:02:51Z")), ("20", utc("2015-08-24T11:59:05Z"))]


@responses.activate
def test_intercom_search_by_updated_at_follows_starting_after():
    base = "https://api.intercom.io"
    last = fixture("intercom", "conversations_search")
    first = copy.deepcopy(last)
    first["conversations"][0].update(id="514", updated_at=1734537500)
    first["pages"]["next"] = {"page": 2, "starting_after": "WzE3MzQ1Mzc1MDAwMDAsNTE0XQ=="}
    responses.post(f"{base}/conversations/search", json=first)
    responses.post(f"{base}/conversations/search", json=last)
    client = IntercomClient(installation("intercom", base, {"access_token": "t"}))
    since = datetime.fromtimestamp(1734537400, timezone.utc)
    assert client.changed_since(since) == [("514", datetime.fromtimestamp(1734537500, timezone.utc)),
                                           ("515", datetime.fromtimestamp(1734537546, timezone.utc))]
    asked = [json.loads(call.request.body) for call in responses.calls]
    assert asked[0] == {"query": {"field": "updated_at", "operator": ">", "value": 1734537399},
                        "pagination": {"per_page": 150}, "sort": {"field": "updated_at", "order": "ascending"}}
    assert asked[1]["pagination"] == {"per_page": 150, "starting_after": "WzE3MzQ1Mzc1MDAwMDAsNTE0XQ=="}


def test_a_list_becomes_each_ticket_once_oldest_first_and_bounded():
    t0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    found = [(7, t0 + timedelta(seconds=5)), ("7", t0 + timedelta(seconds=9)), (8, t0 - timedelta(seconds=1)),
             (None, t0), (9, None), (3, t0)]
    assert oldest_changes(found, t0 + timedelta(microseconds=500)) == [("3", t0), ("7", t0 + timedelta(seconds=9))]
    many = [(n, t0 + timedelta(seconds=n)) for n in range(CHANGED_MAX + 50, 0, -1)]
    bounded = oldest_changes(many, t0)
    assert len(bounded) == CHANGED_MAX and bounded[0] == ("1", t0 + timedelta(seconds=1))


def test_beat_sweeps_as_often_as_the_setting_says():
    settings = Settings.from_env({"BATON_RECONCILE_SECONDS": "120"})
    assert celery_config(settings)["beat_schedule"]["baton-reconcile"] == {"task": "baton.reconcile",
                                                                            "schedule": 120.0}
    with pytest.raises(ValueError, match="BATON_RECONCILE_SECONDS"):
        Settings.from_env({"BATON_RECONCILE_SECONDS": "often"})


# -- on the sandboxes, webhooks lost ----------------------------------------------------------------

class Baton:
    """Baton's web tier and embedded queue on one store, reachable by the sandboxes' webhooks."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.queue = LocalQueue(Pipeline(store), drain_every=60)
        self.server = Server(create_app(Settings(database_url=store.url), store=store, queue=self.queue))

    @property
    def pipeline(self) -> Pipeline:
        return self.queue.pipeline

    def sweep(self) -> int:
        return self.pipeline.reconcile(self.queue.enqueue_event)

    def stop(self) -> None:
        self.server.stop()
        self.queue.stop()

    def swept_tickets(self, inst_id: str) -> list[str]:
        return sorted(e["ticket_id"] for e in self.store.rows(events, installation_id=inst_id)
                      if e["key"].startswith("reconcile:"))

    def decided(self, inst_id: str, ticket: str) -> list[str]:
        return [d["action"] for d in self.store.rows(decisions, installation_id=inst_id, ticket_id=str(ticket))]


def settle(baton: Baton, *drivers: Any) -> None:
    for _ in range(3):
        for driver in drivers:
            driver.wait_for_deliveries(timeout=10)
        baton.queue.wait_idle(timeout=20)


@pytest.fixture
def baton(store):
    b = Baton(store)
    yield b
    b.stop()


# Helpdesks whose API lists conversations by update time; Freshchat's lists none (its descriptor
# says lists_changes=False, connectors/freshchat/README.md), so there is nothing to sweep there.
SWEPT = tuple(k for k in connectors.KEYS if connectors.get(k).descriptor.lists_changes)


@pytest.fixture(params=SWEPT)
def helpdesk(request, baton):
    driver = connectors.driver(request.param)()
    driver.start()
    inst = install_into(driver, baton.store, baton.server.url)
    settle(baton, driver)
    yield driver, inst
    driver.stop()


@pytest.mark.parametrize("share", [0.0, 0.1, 1.0])
def test_a_sweep_processes_exactly_what_the_lost_webhooks_would_have(baton, helpdesk, share):
    driver, inst = helpdesk
    driver.drop_deliveries(share, seed=SEED)
    texts = [HUMAN if n % 2 == 0 else ROUTINE for n in range(6)]
    cids = [str(driver.new_conversation(text)) for text in texts]
    settle(baton, driver)
    unheard = {c for c in cids if not baton.store.rows(events, installation_id=inst.id, ticket_id=c)}
    lost = {c for c in cids if driver.dropped_for(c)}
    assert unheard <= lost and (share == 0.0) == (not lost)

    recorded = baton.sweep()
    settle(baton, driver)
    swept = set(baton.swept_tickets(inst.id))
    assert recorded == len(swept)
    # what was never heard of is swept; a conversation whose webhook arrived is not processed again
    assert unheard <= swept <= lost
    for cid, text in zip(cids, texts):
        actions = baton.decided(inst.id, cid)
        if text == HUMAN:
            assert actions == ["escalate"], (cid, actions)
            assert len(driver.notes(cid)) == 1
        else:
            assert actions == ["continue"] * len(actions) and actions, (cid, actions)
            assert driver.notes(cid) == []

    before = {cid: (baton.decided(inst.id, cid), driver.notes(cid)) for cid in cids}
    assert baton.sweep() == 0  # a second sweep finds nothing new, Baton's own writes included
    settle(baton, driver)
    assert {cid: (baton.decided(inst.id, cid), driver.notes(cid)) for cid in cids} == before


def test_a_later_message_whose_webhook_was_lost_is_found(baton, helpdesk):
    """The customer's first message arrived; the one asking for a person, a minute later, did not."""
    driver, inst = helpdesk
    cid = str(driver.new_conversation(ROUTINE))
    settle(baton, driver)
    before = baton.decided(inst.id, cid)  # Freshdesk sends two deliveries for a new ticket
    assert before and set(before) == {"continue"}
    with baton.store.engine.begin() as conn:  # what Baton received, received a minute earlier
        for row in baton.store.rows(events, installation_id=inst.id):
            conn.execute(update(events).where(events.c.id == row["id"])
                         .values(received_at=row["received_at"] - timedelta(minutes=1)))
    driver.drop_deliveries(1.0)
    driver.say(cid, HUMAN)
    settle(baton, driver)
    assert baton.decided(inst.id, cid) == before  # Baton never heard of it

    assert baton.sweep() == 1
    settle(baton, driver)
    assert baton.decided(inst.id, cid) == before + ["escalate"] and len(driver.notes(cid)) == 1


def test_a_rate_limited_list_stops_only_that_installations_sweep(baton, request):
    """Three helpdesks, every webhook lost; the first answers the sweep's list with a 429."""
    drivers = [connectors.driver(k)() for k in SWEPT]
    for driver in drivers:
        driver.start()
    request.addfinalizer(lambda: [driver.stop() for driver in drivers])
    insts = [install_into(driver, baton.store, baton.server.url) for driver in drivers]
    settle(baton, *drivers)
    for driver in drivers:
        driver.drop_deliveries(1.0)
    cids = [str(driver.new_conversation(HUMAN)) for driver in drivers]
    settle(baton, *drivers)
    limited, *others = range(len(drivers))
    drivers[limited].sandbox.reset_log()
    drivers[limited].throttle(1, retry_after=30)

    assert baton.sweep() == len(others)
    settle(baton, *drivers)
    # the throttled helpdesk was asked once, and is left alone until its Retry-After
    assert [r["status"] for r in drivers[limited].api_log()] == [429]
    until = baton.store.installations.rate_limited_until(insts[limited].id)
    assert until is not None and until > datetime.now(timezone.utc) + timedelta(seconds=20)
    assert baton.swept_tickets(insts[limited].id) == [] and drivers[limited].notes(cids[limited]) == []
    for n in others:  # the others were swept all the same, each only in its own helpdesk
        assert baton.swept_tickets(insts[n].id) == [cids[n]]
        assert baton.decided(insts[n].id, cids[n]) == ["escalate"] and len(drivers[n].notes(cids[n])) == 1
    assert {e["installation_id"] for e in baton.store.rows(events) if e["key"].startswith("reconcile:")} \
        == {insts[n].id for n in others}
    assert baton.sweep() == 0 and [r["status"] for r in drivers[limited].api_log()] == [429]  # still waiting
