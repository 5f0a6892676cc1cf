"""S3: signatures, digests, secrets and tokens are compared in constant time, everywhere.

``==`` on a MAC stops at the first differing byte, so the time a refusal takes tells an attacker
how many leading bytes of a forged signature were right; ``hmac.compare_digest`` (or
``connectors.base.constant_time_equal``) takes the same time whatever the input. This test walks
the syntax tree of every module under ``integration/`` and ``connectors/`` (the sandboxes
verify signatures too) and fails on any ``==``, ``!=``, ``is`` or ``is not`` one of whose sides
names such a value, unless the comparison cannot leak it: with None, an empty string or bytes, a
length, a type, or a named constant / enum member (what *kind* of token, not the token).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("integration", "connectors")

# A part of an identifier (split on "_" and camelCase) that names a secret value.
SENSITIVE = re.compile(r"signature|digest|hmac|secret|token|password|passwd|nonce|csrf", re.I)
SENSITIVE_WORDS = {"mac", "sig", "apikey"}  # whole words only: "mac" is not "machine", "sig" not "signal"
SENSITIVE_PAIRS = {("api", "key")}  # api_key, apiKey

# Comparisons that are not of secret values although a side's name says so. Each entry is (file
# relative to the repository, the line's text stripped) and says why. Keep it short: prefer a
# rewrite with compare_digest, even where the value is not secret.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.text}"


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w.lower() for w in re.split(r"[_\W]+", spaced) if w]


def sensitive_name(name: str) -> bool:
    words = _words(name)
    return bool(SENSITIVE.search(name)) or any(w in SENSITIVE_WORDS for w in words) or \
        any(pair in SENSITIVE_PAIRS for pair in zip(words, words[1:]))


def _names(node: ast.AST) -> list[str]:
    """What an operand names: its variable, attributes, string subscript keys and called function,
    down the chain (``inst.settings["webhook_secret"]`` → settings, webhook_secret, inst). The
    arguments of a call are not the value compared (``len(token)`` is a number)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr, *_names(node.value)]
    if isinstance(node, ast.Subscript):
        key = node.slice
        keys = [key.value] if isinstance(key, ast.Constant) and isinstance(key.value, str) else []
        return [*keys, *_names(node.value)]
    if isinstance(node, ast.Call):
        names = _names(node.func)
        # d.get("secret") names the key it reads
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "getenv") and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.append(node.args[0].value)
        return names
    if isinstance(node, ast.BoolOp):  # (header or "") == expected
        return [n for value in node.values for n in _names(value)]
    return []


def _called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return None


def _harmless(node: ast.AST) -> bool:
    """An operand whose comparison cannot time a secret: None, an empty or numeric literal, a
    length, a type, a named constant or enum member (``Role.SYSTEM``, ``TOKEN_TYPE``)."""
    if isinstance(node, ast.Constant):
        return node.value is None or node.value in ("", b"") or isinstance(node.value, (bool, int, float))
    if _called(node) in ("len", "type", "bool", "int"):
        return True
    if isinstance(node, ast.Name):
        return node.id.isupper() or node.id in ("True", "False", "None")
    if isinstance(node, ast.Attribute):  # Enum.MEMBER, module.CONSTANT
        return node.attr.isupper() and len(node.attr) > 1
    return False


def _is_digest_call(node: ast.AST) -> bool:
    return _called(node) in ("hexdigest", "digest")


def scan_source(source: str, path: str = "<snippet>") -> list[Finding]:
    tree = ast.parse(source, filename=path)
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:]):
            if not isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)):
                continue
            text = lines[node.lineno - 1].strip()
            if ALLOWED.get((path, text)):
                continue
            if _is_digest_call(left) or _is_digest_call(right):
                found.append(Finding(path, node.lineno, text, "a digest compared with ==: use hmac.compare_digest"))
                continue
            if _harmless(left) or _harmless(right):
                continue
            named = [n for n in (*_names(left), *_names(right)) if sensitive_name(n)]
            if named:
                found.append(Finding(path, node.lineno, text,
                                     f"{named[0]!r} compared with {type(op).__name__}: use hmac.compare_digest"))
    return found


def scan_tree() -> list[Finding]:
    found = []
    for top in SCANNED:
        for file in sorted((ROOT / top).rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            found += scan_source(file.read_text(encoding="utf-8"), rel)
    return found


def test_no_secret_is_compared_with_equality_operators():
    findings = scan_tree()
    assert not findings, "non-constant-time comparisons of secrets:\n" + "\n".join(map(str, findings))


def test_the_allow_list_names_lines_that_still_exist():
    """An exception whose line changed or went away is removed, not kept around to excuse another."""
    for (path, text), why in ALLOWED.items():
        assert why, f"say why {path}: {text!r} is allowed"
        lines = {line.strip() for line in (ROOT / path).read_text(encoding="utf-8").splitlines()}
        assert text in lines, f"allowed line no longer in {path}: {text!r}"


def test_the_scanner_flags_equality_on_signatures_and_passes_compare_digest():
    bad = scan_source("if sig == expected:\n    pass\n")
    assert [f.line for f in bad] == [1]
    assert scan_source("import hmac\nok = hmac.compare_digest(sig, expected)\n") == []
    # the shapes secrets take in real code
    for line in ("ok = request.headers['X-Signature'] != computed",
                 "ok = inst.webhook_secret == given",
                 "ok = given == settings.get('client_secret')",
                 "ok = hmac.new(key, body, hashlib.sha256).hexdigest() == header",
                 "ok = (header or '') == expected_mac",
                 "ok = state['nonce'] == cookie",
                 "ok = api_key is stored"):
        assert len(scan_source(line)) == 1, line
    # comparisons that time nothing secret
    for line in ("ok = token is None", "ok = secret != ''", "ok = len(signature) == 64",
                 "ok = type(token) == str", "ok = token_type == TOKEN_BEARER", "ok = kind == Secret.OAUTH",
                 "ok = signal == 'term'", "ok = machine == 'x'", "ok = tokens_used == 3"):
        assert scan_source(line) == [], line
