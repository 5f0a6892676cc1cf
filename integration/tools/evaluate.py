"""``python -m integration evaluate``: decisions for a JSONL file of conversations, and when the
lines carry gold labels, precision, recall and F1 pooled, per source and per gold reason."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Iterable, Iterator, Mapping

from integration.core.engine import evaluate
from integration.core.model import Contact, Conversation, Customer, Decision, Message, Role
from integration.core.rules import DEFAULT_RULES, Rules


class InputError(ValueError):
    pass


# Baton's roles, and the chat roles most exported transcripts use (OpenAI-style: the user is the
# customer, the assistant is the bot); a "system" message is the bot's instructions either way
ROLES = {**{r.value: r for r in Role}, "user": Role.CUSTOMER, "assistant": Role.BOT}


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: must be an ISO 8601 string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise InputError(f"{where}: not an ISO 8601 time ({value!r})") from e


def conversation_from_dict(data: Any) -> Conversation:
    """The CLI's input line → Conversation. Unknown keys are ignored."""
    if not isinstance(data, Mapping):
        raise InputError("line must be a JSON object")
    cid = data.get("id")
    if not isinstance(cid, (str, int)) or isinstance(cid, bool):
        raise InputError('"id": required, a string or a number')
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InputError('"messages": required, a non-empty list')
    messages = []
    for n, m in enumerate(raw):
        where = f'"messages"[{n}]'
        if not isinstance(m, Mapping):
            raise InputError(f"{where}: must be an object")
        role = ROLES.get(m["role"]) if isinstance(m.get("role"), str) else None
        if role is None:
            raise InputError(f'{where}."role": must be one of customer, bot, agent, system (or the chat roles '
                             'user, assistant)')
        if not isinstance(m.get("text"), str):
            raise InputError(f'{where}."text": required, a string')
        messages.append(Message(role, m["text"], _time(m.get("at"), f'{where}."at"'), bool(m.get("public", True))))
    return Conversation(
        id=str(cid),
        messages=tuple(messages),
        customer=customer_from_dict(data.get("customer") or {}),
        bot_confidence=_confidence(data.get("bot_confidence")),
    )


def _confidence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError('"bot_confidence": must be a number between 0 and 1')
    return float(value)


def customer_from_dict(c: Any) -> Customer:
    if not isinstance(c, Mapping):
        raise InputError('"customer": must be an object')
    contacts = tuple(
        Contact(str(x.get("id", i)), _time(x.get("at"), f'"customer"."recent_contacts"[{i}]."at"'),
                str(x.get("subject", "")), str(x.get("status", "")), bool(x.get("escalated", False)))
        for i, x in enumerate(c.get("recent_contacts") or ())
        if isinstance(x, Mapping)
    )
    known = {"id", "name", "email", "plan", "tier", "tenure_days", "language", "timezone",
             "organization", "churn_risk", "tags", "recent_contacts"}
    return Customer(
        id=_opt_str(c.get("id")), name=_opt_str(c.get("name")), email=_opt_str(c.get("email")),
        plan=_opt_str(c.get("plan")), tier=_opt_str(c.get("tier")),
        tenure_days=c.get("tenure_days") if isinstance(c.get("tenure_days"), int) else None,
        language=_opt_str(c.get("language")), timezone=_opt_str(c.get("timezone")),
        organization=_opt_str(c.get("organization")),
        churn_risk=float(c["churn_risk"]) if isinstance(c.get("churn_risk"), (int, float)) else None,
        tags=tuple(str(t) for t in c.get("tags") or ()),
        recent_contacts=contacts,
        attributes={k: v for k, v in c.items() if k not in known},
    )


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def decision_to_dict(d: Decision) -> dict[str, Any]:
    return {
        "id": d.conversation_id,
        "escalate": d.escalate,
        "action": d.action.value,
        "reasons": [{"code": r.code, "summary": r.summary} for r in d.reasons],
        "evidence": [
            {"reason": r.code, "message_index": e.message_index, "quote": e.quote, "score": e.score,
             "threshold": e.threshold, "note": e.note}
            for r in d.reasons for e in r.evidence
        ],
        "priority": d.priority.value,
        "category": d.category,
        "tier": d.tier,
        "explanation": d.explanation,
    }


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, gold: bool, predicted: bool) -> None:
        if gold and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif gold:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_escalation_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


REAL_USER_SOURCES = ("hint3", "hint3_train", "rsics", "uss_mwoz", "uss_sgd")


class Scoreboard:
    """Gold labels against decisions; an "offer a human" counts as not escalating."""

    def __init__(self) -> None:
        self.pooled = Counts()
        self.real_users = Counts()
        self.by_source: dict[str, Counts] = defaultdict(Counts)
        self.by_reason: dict[str, Counts] = defaultdict(Counts)

    def add(self, line: Mapping[str, Any], escalated: bool) -> None:
        gold = line["label"] == "escalate"
        source = str(line.get("source", "unknown"))
        self.pooled.add(gold, escalated)
        self.by_source[source].add(gold, escalated)
        if source in REAL_USER_SOURCES or source.startswith("uss_"):
            self.real_users.add(gold, escalated)
        if gold:
            self.by_reason[str(line.get("reason", "unknown"))].add(gold, escalated)

    def report(self) -> str:
        def row(name: str, c: Counts) -> str:
            return (f"{name:<14} n={c.tp + c.fp + c.fn + c.tn:<5} P={c.precision:.3f} R={c.recall:.3f} "
                    f"F1={c.f1:.3f} false-escalations={c.false_escalation_rate:.1%}")
        lines = [row("pooled", self.pooled)]
        if self.real_users.tp + self.real_users.fp + self.real_users.fn + self.real_users.tn:
            lines.append(row("real users", self.real_users))
        lines += [row(s, c) for s, c in sorted(self.by_source.items())]
        lines.append("recall per gold reason:")
        lines += [f"  {r:<20} {c.recall:.3f} ({c.tp}/{c.tp + c.fn})" for r, c in sorted(self.by_reason.items())]
        return "\n".join(lines)


LABELS = ("escalate", "no_escalate")


def run(lines: Iterable[bytes | str], out: IO[str], err: IO[str], rules: Rules = DEFAULT_RULES) -> int:
    """Evaluate every line; returns the number of malformed lines (each reported on ``err``, by
    its number). Lines may be bytes: a line that is not UTF-8 is one error, not a traceback."""
    board = Scoreboard()
    labelled = bad = seen = 0
    for n, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as e:
            bad += 1
            print(f"line {n}: not UTF-8 text (byte {e.start + 1}); skipped", file=err)
            continue
        if not text.strip():
            continue
        seen += 1
        try:
            data = json.loads(text)
            conversation = conversation_from_dict(data)
            if "label" in data and data["label"] not in LABELS:
                raise InputError(f'"label": must be one of {", ".join(LABELS)} (got {data["label"]!r})')
        except (json.JSONDecodeError, InputError) as e:
            bad += 1
            msg = f"not JSON: {e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
            print(f"line {n}: {msg}; skipped", file=err)
            continue
        decision = evaluate(conversation, rules)
        out.write(json.dumps(decision_to_dict(decision), ensure_ascii=False) + "\n")
        if "label" in data:
            labelled += 1
            board.add(data, decision.escalate)
    if not seen and not bad:
        print("no conversations in the input: one JSON object per line is expected", file=err)
        return 1
    if labelled:
        print(board.report(), file=err)
    return bad


def iter_file(path: str) -> Iterator[bytes]:
    """The input's lines as bytes (decoded line by line, so one bad line is one error)."""
    with (sys.stdin.buffer if path == "-" else open(path, "rb")) as f:
        yield from f
