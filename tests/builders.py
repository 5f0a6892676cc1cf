"""Small builders for conversations in tests."""
from __future__ import annotations

from integration.core.model import Conversation, Customer, Message, Role


def conv(*turns: str | tuple[str, str], customer: Customer | None = None, **kw: object) -> Conversation:
    """``conv("hi", ("bot", "hello"), "I want a human")``: bare strings are customer messages."""
    messages = tuple(
        Message(Role(t[0]), t[1]) if isinstance(t, tuple) else Message(Role.CUSTOMER, t) for t in turns
    )
    return Conversation("c1", messages, customer or Customer(), **kw)  # type: ignore[arg-type]
