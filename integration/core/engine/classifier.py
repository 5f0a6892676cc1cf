"""A small learned signal: logistic regression over the words of the conversation and the other
signals' scores, for escalations the hand-written signals miss.

The weights ship in ``model.json`` next to this file, built by ``scripts/train_model.py`` from
the labelled dev set (sources and licences are in that file and in ``MODEL.md``). Inference is a
dictionary lookup per feature: no numpy, no download. Its finding explains itself by the words
that weighed most, so an agent can judge it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from integration.core.engine import loop, sentiment
from integration.core.engine.text import STOPWORDS, tokens
from integration.core.model import Conversation, Evidence, Finding, Role
from integration.core.rules import ModelRule

MODEL_PATH = Path(__file__).with_name("model.json")


@dataclass(frozen=True)
class LinearModel:
    weights: Mapping[str, float]
    bias: float
    meta: Mapping[str, object]

    def score(self, features: Mapping[str, float]) -> float:
        total, weight = 0.0, self.weights.get
        for k, v in features.items():
            total += weight(k, 0.0) * v
        z = self.bias + total  # the same sum, in the same order, as sum() made it
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def top_words(self, features: Mapping[str, float], n: int = 4) -> list[str]:
        contrib = [(self.weights.get(k, 0.0) * v, k) for k, v in features.items()
                   if k.startswith(("w:", "b:")) and not set(k[2:].split("_")) <= STOPWORDS]
        return [k[2:].replace("_", " ") for c, k in sorted(contrib, reverse=True)[:n] if c > 0.3]


@lru_cache(maxsize=1)
def default_model() -> LinearModel | None:
    if not MODEL_PATH.exists():
        return None
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return LinearModel(data["weights"], data["bias"], data.get("meta", {}))


@lru_cache(maxsize=16384)
def _text_features(text: str, prefix: str) -> tuple[tuple[str, float], ...]:
    toks = tokens(text)
    feats = {f"{prefix}:{t}": 1.0 for t in toks}
    if prefix == "w":
        feats.update({f"b:{a}_{b}": 1.0 for a, b in zip(toks, toks[1:])})
    return tuple(feats.items())


def features(conversation: Conversation, findings: Iterable[Finding]) -> dict[str, float]:
    """What the model sees: words of the last customer message ("w:", bigrams "b:"), words of the
    earlier customer messages ("p:"), and the other signals' verdicts ("s:")."""
    msgs = conversation.messages
    customer = [m for m in msgs if m.role is Role.CUSTOMER]
    feats: dict[str, float] = {}
    if not customer:
        return feats
    feats.update(_text_features(customer[-1].text, "w"))
    for m in customer[-4:-1]:
        feats.update(_text_features(m.text, "p"))
    for f in findings:
        if f.signal == "risky_topic":
            feats[f"s:topic:{f.category}"] = 1.0
        elif f.signal in ("explicit_request", "sentiment", "loop"):
            feats[f"s:{f.signal}"] = min(f.score, 2.0)
            if f.signal == "loop":
                feats["s:stalled"] = min(3.0, float(f.details.get("stalled_exchanges", 0)))
    feats["s:compound"] = sentiment.mood(customer[-1].text).compound
    bots = [m for m in msgs if m.role is Role.BOT]
    if bots:
        feats["s:bot_failed_last"] = 1.0 if loop.bot_failed(bots[-1].text) else 0.0
        feats["s:bot_failed_any"] = float(sum(1 for m in bots if loop.bot_failed(m.text)))
    feats["s:corrected_last"] = 1.0 if loop.customer_corrected(customer[-1].text) else 0.0
    # No feature says how long the message or the conversation is, nor repeats the last message's
    # frustration beside the sentiment signal's score: those told the datasets apart (short queries
    # in one, long dialogues in another) more than customers, and cost real-user F1 when a model
    # trained on the other sources met a new one (leave one source out: 0.780 with them, 0.793 without).
    return feats


def detect(conversation: Conversation, rule: ModelRule, findings: Iterable[Finding],
           model: LinearModel | None = None) -> Finding:
    model = model or default_model()
    if model is None:
        return Finding("model", False, 0.0, rule.threshold, "No trained model installed.")
    feats = features(conversation, findings)
    p = model.score(feats)
    fired = p >= rule.threshold
    last = conversation.last_customer_index()
    if fired:
        words = model.top_words(feats)  # only an escalation says which words weighed most
        said = f"; words that weighed most: {', '.join(repr(w) for w in words)}" if words else ""
        summary = f"Conversations like this one were usually handed to a person (model score {p:.2f}{said})."
        ev = (Evidence(last, ", ".join(words) or "overall pattern", round(p, 3), rule.threshold, "learned model"),)
    else:
        summary = f"Past conversations like this one were handled by the bot (model score {p:.2f})."
        ev = ()
    return Finding("model", fired, round(p, 3), rule.threshold, summary, ev)
