from datetime import datetime, timedelta, timezone

from integration.core.engine import customer, language
from integration.core.model import Contact, Customer, Message, Role
from integration.core.rules import DEFAULT_RULES, LanguageRule
from tests.builders import conv

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def test_vip_and_enterprise_customers_are_a_segment():
    assert customer.segment(conv("hi", customer=Customer(tier="VIP")), DEFAULT_RULES.segment).fired
    assert customer.segment(conv("hi", customer=Customer(plan="enterprise")), DEFAULT_RULES.segment).fired
    f = customer.segment(conv("hi", customer=Customer(churn_risk=0.9)), DEFAULT_RULES.segment)
    assert f.fired and "churn risk 0.90" in f.summary


def test_standard_customers_are_not():
    f = customer.segment(conv("hi", customer=Customer(tier="standard", plan="basic", churn_risk=0.2)), DEFAULT_RULES.segment)
    assert not f.fired


def _contacts(*days_ago: int) -> tuple[Contact, ...]:
    return tuple(Contact(str(i), NOW - timedelta(days=d), f"ticket {i}") for i, d in enumerate(days_ago))


def test_repeat_contacts_count_only_within_the_window():
    rule = DEFAULT_RULES.repeat_contact  # 3 contacts in 14 days
    recent = conv("again", customer=Customer(recent_contacts=_contacts(1, 5, 10)), as_of=NOW)
    spread = conv("again", customer=Customer(recent_contacts=_contacts(1, 20, 40)), as_of=NOW)
    f = customer.repeat_contact(recent, rule)
    assert f.fired and "3 times in the last 14 days" in f.summary
    assert len(f.evidence) == 3
    assert not customer.repeat_contact(spread, rule).fired


def test_the_engine_reads_no_clock_the_window_moves_with_the_conversation_time():
    rule = DEFAULT_RULES.repeat_contact
    c = conv("again", customer=Customer(recent_contacts=_contacts(1, 5, 10)), as_of=NOW)
    assert customer.repeat_contact(c, rule).fired
    a_month_later = conv("again", customer=c.customer, as_of=NOW + timedelta(days=30))
    assert not customer.repeat_contact(a_month_later, rule).fired


def test_window_is_measured_from_the_conversation_time():
    c = conv("again", customer=Customer(recent_contacts=_contacts(1, 5, 10)))
    last = Message(Role.CUSTOMER, "again", at=NOW)
    c = c.__class__(c.id, (last,), c.customer)
    assert customer.repeat_contact(c, DEFAULT_RULES.repeat_contact).fired


def test_bot_confidence_below_threshold():
    assert customer.bot_confidence(conv("hi", bot_confidence=0.2), DEFAULT_RULES.bot_confidence).fired
    assert not customer.bot_confidence(conv("hi", bot_confidence=0.9), DEFAULT_RULES.bot_confidence).fired
    assert not customer.bot_confidence(conv("hi"), DEFAULT_RULES.bot_confidence).fired


def test_language_detection_and_unsupported_language():
    assert language.guess("Hola, quiero cancelar mi pedido por favor")[0] == "es"
    assert language.guess("Bonjour, je veux annuler ma commande")[0] == "fr"
    assert language.guess("Hallo, ich möchte meine Bestellung stornieren bitte")[0] == "de"
    assert language.guess("Olá, eu quero cancelar o meu pedido")[0] == "pt"
    assert language.guess("Hello, I want to cancel my order")[0] == "en"
    rule = LanguageRule(bot_languages=("en",))
    f = language.detect(conv("Hola, quiero saber el estado de mi pedido"), rule)
    assert f.fired and "es" in f.summary
    assert not language.detect(conv("Hello, where is my order?"), rule).fired
    assert language.detect_language(conv("hello", customer=Customer(language="pt-BR"))) == "pt"


def test_bot_confidence_is_read_where_the_admin_says_the_bot_leaves_it():
    from dataclasses import replace as dc_replace

    rule = dc_replace(DEFAULT_RULES.bot_confidence, field="360012345", tag_prefix="bot_confidence_")
    in_field = conv("hi", fields={"360012345": "25"})  # a percentage in a ticket field
    assert customer.bot_confidence(in_field, rule).fired
    in_tag = conv("hi", tags=("web", "bot_confidence_0.9"))
    assert not customer.bot_confidence(in_tag, rule).fired
    assert "0.90" in customer.bot_confidence(in_tag, rule).summary
    for junk in ("n/a", "nan", "250", True):
        assert customer.reported_confidence(conv("hi", fields={"360012345": junk}), rule) is None
    assert customer.reported_confidence(conv("hi", fields={"360012345": "25"}), DEFAULT_RULES.bot_confidence) is None
