"""The escalation engine: pure functions from a conversation and rules to a decision.

Each signal lives in its own module and returns :class:`~integration.core.model.Finding` objects with
evidence; :mod:`.policy` combines them. No I/O happens here, and no clock: the caller that has one
passes ``out_of_time``, asked between signals (and between an admin's topics); a signal it stops is
recorded as not evaluated and the decision is made on what finished (``Decision.limits`` says so).
What the engine reads of a long conversation is bounded by :mod:`integration.core.limits`.
"""
from __future__ import annotations

from typing import Callable

from integration.core import limits
from integration.core.engine import classifier, customer, explicit, language, loop, policy, sentiment, topic
from integration.core.model import Conversation, Decision, Finding
from integration.core.rules import DEFAULT_RULES, Rules


def _never() -> bool:
    return False


def evaluate(conversation: Conversation, rules: Rules = DEFAULT_RULES,
             model: classifier.LinearModel | None = None, out_of_time: Callable[[], bool] = _never) -> Decision:
    """Decide for the conversation as it stands after its last message. ``model`` overrides the
    shipped classifier (cross-validation uses it)."""
    window = limits.window(conversation)
    c = window.conversation
    out_of_time = limits.Clock(out_of_time)
    skipped: list[str] = []

    def run(signal: str, threshold: float, detect: Callable[[], Finding]) -> Finding:
        if out_of_time():
            skipped.append(signal)
            return limits.skipped(signal, threshold)
        return detect()

    # the most telling signals first: what runs out of time is what weighs least
    findings = [run("explicit_request", 1.0, lambda: explicit.detect(c))]
    mood = run("sentiment", rules.sentiment.threshold, lambda: sentiment.detect(c, rules.sentiment.threshold))
    findings.append(mood)
    if not out_of_time():
        upset = mood.score >= rules.sentiment.offer_threshold
        findings += topic.detect(c, rules.topics, carry_over=upset, out_of_time=out_of_time)
    if out_of_time():  # before the topics or half-way through an admin's taxonomy
        skipped.append("risky_topic")
    findings += [
        run("loop", 1.0, lambda: loop.detect(c, rules.loop)),
        run("segment", 1.0, lambda: customer.segment(c, rules.segment)),
        run("repeat_contact", 1.0, lambda: customer.repeat_contact(c, rules.repeat_contact)),
        run("bot_confidence", 1.0, lambda: customer.bot_confidence(c, rules.bot_confidence)),
    ]
    lang = run("language", 1.0, lambda: language.detect(c, rules.language))
    findings.append(lang)
    if rules.model.enabled:
        findings.append(run("model", rules.model.threshold, lambda: classifier.detect(c, rules.model, findings, model)))
    decision = policy.decide(c, findings, rules, lang.details.get("language"))
    return limits.in_whole(limits.unfinished(decision, skipped), window)


__all__ = ["evaluate"]
