"""Suggested resolutions for a handoff, looked up in the installation's own resolved escalations.

One index per installation, never shared between installations: built from
``OutcomeRepository.resolved_escalations`` on first use, rebuilt when older than ``max_age`` (or after
:meth:`Suggester.refresh`), at most ``installations`` indexes kept (the least recently used goes).
While one thread rebuilds a stale index, the others keep using the old one; only the very first
build is waited for. A cached lookup reads nothing from the database.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from sqlalchemy.exc import SQLAlchemyError

from integration.core.model import Conversation
from integration.core.suggest import MIN_TERMS, Case, Index, Suggestion, customer_words, sibling_url, suggest, terms
from integration.service.store import Store

log = logging.getLogger("baton.suggestions")

MAX_AGE = 600.0  # seconds an index is used before it is built again
INSTALLATIONS = 16  # indexes kept in memory per process (about 20 MiB for an installation of 50,000 cases)
CASES = 50_000  # the newest resolved escalations indexed per installation


@dataclass
class _Entry:
    index: Index | None = None
    built: float = float("-inf")
    building: threading.Lock = field(default_factory=threading.Lock)


def case_from_row(row: Mapping[str, Any]) -> Case:
    """An outcome row of ``OutcomeRepository.resolved_escalations`` as a case."""
    return Case(ticket_id=str(row["ticket_id"]), words=row["query_text"] or "", gist=row.get("answer_text"),
                resolution=row.get("resolution"), url=row.get("url"), solved_at=row.get("solved_at"),
                escalated_at=row.get("escalated_at"))


class Suggester:
    def __init__(self, store: Store, max_age: float = MAX_AGE, installations: int = INSTALLATIONS,
                 cases: int = CASES, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.max_age = max_age
        self.installations = max(1, installations)
        self.cases = cases
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def suggest(self, inst_id: str, conversation: Conversation, k: int = 3) -> list[Suggestion]:
        """This installation's resolved cases most like what the customer said in ``conversation``
        (never the conversation itself), with a link to each; [] when none is similar enough or
        the history cannot be read (a handoff never waits on its suggestions)."""
        words = customer_words(conversation)
        if len(set(terms(words))) < MIN_TERMS:
            return []
        try:
            index = self.index(inst_id)
        except SQLAlchemyError:
            log.warning("suggestions.unavailable", exc_info=True, extra={"installation": inst_id})
            return []
        found = [s for s in suggest(index, words, k + 1) if s.ticket_id != conversation.id][:k]
        return [s if s.url else replace(s, url=sibling_url(conversation.url, conversation.id, s.ticket_id))
                for s in found]

    def index(self, inst_id: str) -> Index:
        """The installation's index, built if missing or older than ``max_age``."""
        entry = self._entry(inst_id)
        if entry.index is not None and self.clock() - entry.built < self.max_age:
            return entry.index
        if entry.index is not None and not entry.building.acquire(blocking=False):
            return entry.index  # another thread is rebuilding it: the old one meanwhile
        if entry.index is None:
            entry.building.acquire()
        try:
            if entry.index is None or self.clock() - entry.built >= self.max_age:  # not built meanwhile
                started = self.clock()
                rows = self.store.outcomes.resolved_escalations(inst_id, self.cases)
                entry.index = Index(case_from_row(r) for r in rows)
                entry.built = started
                log.info("suggestions.indexed", extra={"installation": inst_id, "cases": len(entry.index),
                                                        "seconds": round(self.clock() - started, 3)})
            return entry.index
        finally:
            entry.building.release()

    def refresh(self, inst_id: str) -> None:
        """Forget the installation's index: the next suggestion rebuilds it."""
        with self._lock:
            self._entries.pop(inst_id, None)

    def cached(self) -> list[str]:
        """The installations whose index is in memory, the least recently used first."""
        with self._lock:
            return list(self._entries)

    def _entry(self, inst_id: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(inst_id)
            if entry is None:
                entry = self._entries[inst_id] = _Entry()
                while len(self._entries) > self.installations:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(inst_id)
            return entry
