"""S11: no secret and no personal data in any log line or Celery task argument, over the whole test run.

A pytest plugin (``pytest_plugins`` in tests/conftest.py). From the session's start it records:

- every log record reaching the root logger, at DEBUG: the formatted message, its ``extra``
  fields (what ``log.warning("x", extra={...})`` adds) and its traceback text;
- every Celery task sent (``Celery.send_task``, ``Task.apply_async``): name, args and kwargs;
- what to look for: each value Baton encrypts (``Vault.encrypt``; inside a credentials JSON, each
  value) is a secret, and each text of 20 characters or more a sandbox customer, bot or agent
  writes (``Driver.new_conversation``, ``Driver.say``) or Baton reads as a message
  (``model.Message``) is a message body;
- the e2e worker's log file, handed over by tests/e2e/harness.py (``scan_file``).

At the session's end it looks in all of it for email addresses, those secrets and bodies, bearer
or basic credentials and long random-looking tokens; each finding is printed (test, logger,
field, the value redacted) and fails the run. The terminal summary says what was scanned.
"""
from __future__ import annotations

import bisect
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

MIN_SECRET = 8  # shorter encrypted values ("{}", "", "t") are not told apart from ordinary words
MIN_BODY = 20

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
AUTH_HEADER = re.compile(r"\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)
TOKEN = re.compile(r"[A-Za-z0-9+=_-]{32,}")  # not "/": URL paths of ids are not one token
# What looks random but is not a secret: hex digests and hex ids (sha256 of a key is what Baton logs
# instead of the key), UUIDs, and words joined by "_", "-" or "/" (test names, log events, paths).
SAFE_TOKEN = (
    re.compile(r"[0-9a-f]{32,}|[0-9A-F]{32,}"),
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I),
)
_WORD = re.compile(r"[A-Z]?[a-z]+[0-9]*|[0-9]+|[A-Z]+[0-9]*")  # "pytest", "Billing", "test0", "1004", "API"

# every record of these is scanned in full. Not werkzeug: its request lines come from the tests'
# in-process servers (the sandboxes' APIs, whose URLs carry what the vendors put in them, e.g.
# Freshdesk's contacts?email=); production runs gunicorn without an access log (Procfile). Like
# every other library's records, they are still searched for the exact secrets and message bodies.
OWN_LOGGERS = {"baton", "celery", "kombu"}

# LogRecord's own attributes: everything else in record.__dict__ came in through ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


@dataclass
class Item:
    """One thing scanned: a log record's field, a task's arguments or a line of a log file."""

    test: str
    source: str  # logger name, "celery:<task>" or the file
    field: str  # "message", "extra.<key>", "exc_text", "args", "kwargs", "line <n>"
    text: str
    # False for other libraries' DEBUG records (urllib3's request lines …): off in production, so
    # only the exact values (known secrets, message bodies) are looked for there, not the patterns
    patterns: bool = True


@dataclass
class Finding:
    item: Item
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind} in {self.item.source} {self.item.field} during {self.item.test or 'setup'}: {redact(self.value)}"


def redact(value: str) -> str:
    return f"{value[:3]}…[{len(value)} chars]" if len(value) > 6 else "…"


@dataclass
class Recorder:
    items: list[Item] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    bodies: set[str] = field(default_factory=set)
    log_records: int = 0
    task_calls: int = 0
    files: int = 0
    test: str = ""

    def add(self, source: str, field_name: str, text: str, patterns: bool = True) -> None:
        if text:
            self.items.append(Item(self.test, source, field_name, text, patterns))

    def secret(self, value: Any) -> None:
        """A value Baton encrypts; a JSON object's string values each count on their own."""
        if not isinstance(value, str):
            return
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for v in data.values():
                self.secret(v)
        elif len(value) >= MIN_SECRET:
            self.secrets.add(value)

    def body(self, text: Any) -> None:
        if isinstance(text, str) and len(text.strip()) >= MIN_BODY:
            self.bodies.add(text.strip())


RECORDER = Recorder()


class _Handler(logging.Handler):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder = recorder
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            rec = self.recorder
            rec.log_records += 1
            top = record.name.split(".")[0]
            patterns = top in OWN_LOGGERS or (record.levelno >= logging.INFO and top != "werkzeug")
            rec.add(record.name, "message", record.getMessage(), patterns)
            for key, value in vars(record).items():
                if key not in _STANDARD:
                    rec.add(record.name, f"extra.{key}", value if isinstance(value, str) else repr(value), patterns)
            if record.exc_info:
                rec.add(record.name, "exc_text", self._formatter.formatException(record.exc_info), patterns)
            if record.stack_info:
                rec.add(record.name, "stack", record.stack_info, patterns)
        except Exception:  # never break the code under test
            self.handleError(record)


def scan(items: Iterable[Item], secrets: Iterable[str] = (), bodies: Iterable[str] = ()) -> list[Finding]:
    """Every email, known secret, message body, auth header or random-looking token in ``items``."""
    items = list(items)
    found: list[Finding] = []
    for item in items:
        if not item.patterns:
            continue
        for match in EMAIL.finditer(item.text):
            found.append(Finding(item, "email address", match.group()))
        for match in AUTH_HEADER.finditer(item.text):
            found.append(Finding(item, "authorization header", match.group()))
        for match in TOKEN.finditer(item.text):
            token = match.group()
            if not any(p.fullmatch(token) for p in SAFE_TOKEN) and not _words(token) and _looks_random(token):
                found.append(Finding(item, "token-like string", token))
    # known values: one pass of str.find per needle over all the text (fast even for long runs)
    joined, starts, pos = [], [], 0
    for item in items:
        starts.append(pos)
        joined.append(item.text)
        pos += len(item.text) + 1
    text = "\0".join(joined)
    for kind, needles in (("secret", secrets), ("message body", bodies)):
        for needle in needles:
            at = text.find(needle)
            seen = set()
            while at != -1:
                index = bisect.bisect_right(starts, at) - 1
                if index not in seen:
                    seen.add(index)
                    found.append(Finding(items[index], kind, needle))
                at = text.find(needle, starts[index] + len(items[index].text) + 1)
    return found


def _words(token: str) -> bool:
    """Words joined by separators: random text splits into mixed-up pieces that are no words."""
    parts = [p for p in re.split(r"[_=+-]+", token) if p]
    return len(parts) >= 3 and all(_WORD.fullmatch(p) for p in parts)


def _looks_random(token: str) -> bool:
    """Upper and lower case letters and digits mixed: what a key, a token or a ciphertext looks like."""
    return bool(re.search(r"[A-Z]", token) and re.search(r"[a-z]", token) and re.search(r"[0-9]", token))


def scan_file(path: str | Path) -> None:
    """Add a log file's lines (the e2e worker's) to the scan; called by tests/e2e/harness.py."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    RECORDER.files += 1
    for n, line in enumerate(lines, 1):
        RECORDER.add(Path(path).name, f"line {n}", line)


# -- wiring -----------------------------------------------------------------------------------------

_patches: list[tuple[Any, str, Any]] = []


def _wrap(owner: Any, name: str, before: Callable[..., None]) -> None:
    original = owner.__dict__[name]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            before(*args, **kwargs)
        except Exception:  # recording must never change what the code does
            pass
        return original(*args, **kwargs)

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    _patches.append((owner, name, original))
    setattr(owner, name, wrapper)


def _record_task(name: str, args: Any, kwargs: Any) -> None:
    RECORDER.task_calls += 1
    RECORDER.add(f"celery:{name}", "args", repr(args))
    RECORDER.add(f"celery:{name}", "kwargs", repr(kwargs))


def _install() -> None:
    from celery.app.base import Celery
    from celery.app.task import Task

    from connectors.sandbox import Driver
    from integration.core.model import Message
    from integration.service.store import Vault

    _wrap(Vault, "encrypt", lambda self, text, *a, **k: RECORDER.secret(text))
    _wrap(Driver, "new_conversation", lambda self, text, *a, **k: RECORDER.body(text))
    _wrap(Driver, "say", lambda self, cid, text, *a, **k: RECORDER.body(text))
    _wrap(Message, "__init__", lambda self, *a, **k: RECORDER.body(k.get("text", a[1] if len(a) > 1 else None)))
    _wrap(Celery, "send_task", lambda self, name, args=None, kwargs=None, *a, **k: _record_task(name, args, kwargs))
    _wrap(Task, "apply_async", lambda self, args=None, kwargs=None, *a, **k: _record_task(self.name, args, kwargs))


_HANDLER = _Handler(RECORDER)


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    # A failed test's "Captured log" section stays as it was (WARNING and up, unless configured)
    # although the root logger now passes DEBUG records on, for this plugin to see them.
    reporting = session.config.pluginmanager.get_plugin("logging-plugin")
    if reporting is not None and reporting.log_level is None:
        reporting.report_handler.setLevel(root.getEffectiveLevel())
    root.addHandler(_HANDLER)
    root.setLevel(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("baton") and isinstance(logger, logging.Logger):
            logger.propagate = True
    _install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    RECORDER.test = item.nodeid
    yield
    RECORDER.test = ""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_HANDLER)
    while _patches:
        owner, name, original = _patches.pop()
        setattr(owner, name, original)
    findings = scan(RECORDER.items, RECORDER.secrets, RECORDER.bodies)
    session.config.stash[_FINDINGS] = findings
    if findings:
        writer = session.config.get_terminal_writer()
        writer.line(f"\nleak scan: {len(findings)} secrets or personal data in logs or task arguments:", red=True)
        for f in findings[:200]:
            writer.line(f"  {f}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_FINDINGS = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    findings = config.stash.get(_FINDINGS, [])
    files = f", {RECORDER.files} log files" if RECORDER.files else ""
    terminalreporter.write_line(
        f"leak scan: {RECORDER.log_records} log records, {RECORDER.task_calls} task calls{files}, "
        f"{len(RECORDER.secrets)} secrets and {len(RECORDER.bodies)} message bodies looked for, "
        f"{len(findings)} findings", red=bool(findings))
