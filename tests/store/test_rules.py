"""RuleRepository: publishing makes a version (the rules as installed kept as version 1), ends the
draft and is audited; discarding a draft that does not exist leaves no trace."""
from integration.service.store import installations


def test_the_first_publish_keeps_the_rules_as_installed_and_ends_the_draft(store):
    inst = store.installations.add("zendesk", "https://a", {}, rules={"loop": {"rephrases": 3}})
    store.rules.save_draft(inst.id, {"loop": {"rephrases": 2}}, "ann")
    assert store.rules.draft(inst.id)["author"] == "ann"
    assert store.rules.publish(inst.id, {"loop": {"rephrases": 2}}, "ann", "fewer rephrases") == 2
    assert [(v["number"], v["comment"]) for v in store.rules.versions(inst.id)] == [
        (2, "fewer rephrases"), (1, "as installed")]
    assert store.rules.version(inst.id, 1)["rules"] == {"loop": {"rephrases": 3}}
    assert store.rules.draft(inst.id) is None
    (row,) = store.rows(installations, id=inst.id)
    assert (row["rules"], row["rules_version"]) == ({"loop": {"rephrases": 2}}, 2)
    assert [a["action"] for a in store.rules.audit_log(inst.id)] == ["publish", "draft"]  # newest first


def test_discarding_no_draft_is_not_audited(store):
    inst = store.installations.add("zendesk", "https://a", {})
    store.rules.discard_draft(inst.id, "ann")
    store.rules.save_draft(inst.id, {}, "ann")
    store.rules.discard_draft(inst.id, "bob")
    assert [(a["action"], a["actor"]) for a in store.rules.audit_log(inst.id)] == [
        ("discard draft", "bob"), ("draft", "ann")]
