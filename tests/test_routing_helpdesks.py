"""Routing end to end on each helpdesk's sandbox: the roster is synced from the helpdesk's own API,
the escalation lands with the online agent of the mapped group, the decision record says why the
other agent was passed over, and the customer is told in the conversation, in words that name the
team and promise they will not have to repeat themselves."""
import pytest

import connectors
from integration.service.pipeline import Pipeline
from integration.service.store import Store, decisions
from integration.service.tasks import LocalQueue
from integration.service.web import create_app
from integration.service.settings import Settings
from integration.tools.local import Server, install_into

HUMAN = "I was charged twice. Can I talk to a human please?"


@pytest.fixture(params=connectors.KEYS)
def desk(request, tmp_path, vault):
    store = Store(f"sqlite:///{tmp_path}/baton.db", vault)
    store.migrate()
    queue = LocalQueue(Pipeline(store), drain_every=60)
    server = Server(create_app(Settings(database_url=store.url), store=store, queue=queue))
    driver = connectors.driver(request.param)()
    driver.start()
    yield driver, store, queue, server.url
    driver.stop()
    server.stop()
    queue.stop()


def settle(driver, queue):
    for _ in range(3):
        driver.wait_for_deliveries(timeout=10)
        queue.wait_idle(timeout=10)


def test_escalation_goes_to_the_online_agent_of_the_mapped_group(desk):
    driver, store, queue, baton = desk
    group, online, offline = driver.seed_team()
    inst = install_into(driver, store, baton, rules={"routing": {"default_group": group, "notify_customer": True}})
    roster, synced = store.installations.roster(inst.id)
    assert synced is not None and {a["id"] for a in roster["agents"]} >= {online, offline}

    cid = driver.new_conversation(HUMAN)
    settle(driver, queue)
    view = driver.view(cid)
    assert (view.group_id, view.agent_id) == (group, online)
    (row,) = [d for d in store.rows(decisions, installation_id=inst.id) if d["ticket_id"] == str(cid)]
    assert row["route"]["group_id"] == group and row["route"]["agent_id"] == online
    assert {"agent_id": offline, "chosen": False, "why": "offline"} in row["route"]["candidates"]
    assert len(view.notes) == 1
    # the handoff message, as the customer reads it in the conversation: the team by name and the
    # promise that they will not have to repeat themselves
    (said,) = view.said
    assert said.strip() == row["route"]["customer_message"].strip()
    assert "connecting you with our team" in said and "you won't need to repeat it" in said
    assert "Billing" not in said  # an internal group name is never shown to a customer unless the admin says so
