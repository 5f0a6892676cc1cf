"""Routing end to end on each helpdesk's sandbox: the roster is synced from the helpdesk's own API,
the escalation lands with the online agent of the mapped group, the decision record says why the
other agent was passed over, and the customer is told in the conversation."""
import threading

import pytest
from werkzeug.serving import make_server

from integration.pipeline import Pipeline
from integration.store import decisions
from integration.tasks import LocalQueue
from integration.web import create_app
from tests.e2e.drivers import DRIVERS

HUMAN = "I was charged twice. Can I talk to a human please?"


@pytest.fixture(params=sorted(DRIVERS))
def desk(request, tmp_path, vault):
    from integration.store import Store

    store = Store(f"sqlite:///{tmp_path}/baton.db", vault)
    store.migrate()
    queue = LocalQueue(Pipeline(store), drain_every=60)
    server = make_server("127.0.0.1", 0, create_app(store, queue), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = DRIVERS[request.param]()
    driver.start()
    yield driver, store, queue, f"http://127.0.0.1:{server.server_port}"
    driver.stop()
    server.shutdown()
    queue.stop()


def settle(driver, queue):
    for _ in range(3):
        driver.wait_for_deliveries(timeout=10)
        queue.wait_idle(timeout=10)


def test_escalation_goes_to_the_online_agent_of_the_mapped_group(desk):
    driver, store, queue, baton = desk
    group, online, offline = driver.seed_team()
    inst = driver.install(store, baton, rules={"routing": {"default_group": group, "notify_customer": True}})
    roster, synced = store.roster(inst.id)
    assert synced is not None and {a["id"] for a in roster["agents"]} >= {online, offline}

    cid = driver.new_conversation(HUMAN)
    settle(driver, queue)
    assert driver.assignee(cid) == online
    (row,) = [d for d in store.rows(decisions, installation_id=inst.id) if d["ticket_id"] == str(cid)]
    assert row["route"]["group_id"] == group and row["route"]["agent_id"] == online
    assert {"agent_id": offline, "chosen": False, "why": "offline"} in row["route"]["candidates"]
    assert len(driver.notes(cid)) == 1
    (said,) = driver.said(cid)
    assert "Billing" in said and "won" in said  # "…so you won't need to repeat it"
