"""Small builders for conversations in tests."""
from __future__ import annotations

from datetime import datetime, timedelta

from integration.core.model import Conversation, Customer, Message, Role


def conv(*turns: str | tuple[str, str], customer: Customer | None = None, **kw: object) -> Conversation:
    """``conv("hi", ("bot", "hello"), "I want a human")``: bare strings are customer messages."""
    messages = tuple(
        Message(Role(t[0]), t[1]) if isinstance(t, tuple) else Message(Role.CUSTOMER, t) for t in turns
    )
    return Conversation("c1", messages, customer or Customer(), **kw)  # type: ignore[arg-type]


class Clock:
    """A clock a test sets: ``clock.at(minutes)`` after ``start``."""

    def __init__(self, start: datetime) -> None:
        self.start = self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = self.start + timedelta(minutes=minutes)
