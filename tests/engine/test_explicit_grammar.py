"""The explicit signal is a grammar per language, read by code that knows no language: adding a
language is adding one file; refusals win whoever looks; the quote shows the customer's words."""
import ast
import json
from pathlib import Path

import pytest

from integration.core.engine import clauses, evaluate, explicit, lexicon, sentiment
from integration.core.engine.classifier import LinearModel
from integration.core.model import Action
from tests.builders import conv

ESPERANTO = {
    "language": "eo",
    "paradigms": {"n": ["o", "on", "oj", "ojn"]},
    "words": {
        "person": ["hom:n", "iu"], "contact": ["paroli", "parolu"], "want": ["volas"], "negation": ["ne"],
        "machine": ["bot:n", "roboto"], "identity": ["cu vi estas"], "filler": ["mi", "kun", "al", "la", "cu", "vi"],
        "polite": ["bonvolu", "dankon"],
    },
}


@pytest.fixture
def only_esperanto(tmp_path, monkeypatch):
    """The grammar as one Esperanto file, written here (no language of the product's)."""
    (tmp_path / "eo.json").write_text(json.dumps(ESPERANTO), encoding="utf-8")
    monkeypatch.setattr(lexicon, "GRAMMARS", tmp_path)
    monkeypatch.setattr(lexicon, "G", lexicon.load())
    clear = [explicit.analyse, lexicon.word, lexicon.typo, lexicon.written_in, lexicon.concept]
    for f in clear:
        f.cache_clear()
    yield
    monkeypatch.undo()
    for f in clear:
        f.cache_clear()


def test_a_language_is_one_file_and_its_tests(only_esperanto):
    assert lexicon.G.languages == ("eo",)
    assert explicit.match_request("mi volas paroli kun homo")  # inflections from the file's paradigm
    assert explicit.match_request("bonvolu, homon")
    refusal = explicit.match("mi ne volas paroli kun homo")
    assert refusal and refusal.refused
    assert explicit.match_request("mi ne volas paroli kun roboto")  # refusing the bot asks for a person
    assert explicit.match("cu vi estas homo?") is None  # a question about the bot
    assert explicit.match_request("mi volas parloi kun homo")  # a typing mistake, in the file's own words


def _code_strings(tree: ast.AST) -> list[str]:
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


@pytest.mark.parametrize("module", [lexicon, clauses, explicit])
def test_the_code_knows_no_word_of_any_language(module):
    source = Path(module.__file__).read_text(encoding="utf-8")
    words = {w for w in lexicon.G.forms if len(w) >= 3 and w.isalpha()} | {w for w in lexicon.G.cjk if len(w) >= 2}
    # the grammar file's keys and its roles' names are the code's words
    roles = set(lexicon.CATEGORIES) | {"never", "words", "paradigms", "separable", "clitics", "clitic_restore", "verb_final"}
    found = {s for s in _code_strings(ast.parse(source)) if s.lower() in words and s not in roles}
    assert not found  # every word is in grammar/<lang>.json; the code has only the grammar's roles


@pytest.mark.parametrize("text", ["I don't want to talk to a human", "no me derives", "nie przełączaj mnie do konsultanta",
                                  "不要转人工", "オペレーターと話したくない", "ich will nicht weitergeleitet werden"])
def test_a_refusal_is_quoted_from_its_negation(text):
    finding = explicit.detect(conv(text))
    assert finding.details["refused"] and not finding.fired
    assert finding.evidence[0].quote.strip("…").strip() in text


def test_the_learned_signal_alone_never_escalates_a_negated_person_the_grammar_cannot_read():
    eager = LinearModel({}, 8.0, {})  # a model that escalates everything
    for text in ["no eres humano, ¿verdad?", "not an agent thing"]:
        finding = explicit.detect(conv(text))
        assert finding.details.get("negated"), text
        decision = evaluate(conv(text), model=eager)
        assert decision.action is Action.CONTINUE, (text, decision.explanation)
    assert evaluate(conv("where is my parcel"), model=eager).action is Action.ESCALATE  # only that case


@pytest.mark.parametrize("text", ["die Bestellung ist gut angekommen, danke", "no me llegó el pedido todavía",
                                  "ik heb de doos gekregen, die is mooi"])
def test_vader_reads_english_only(text):
    # German and Dutch "die" is an article, Spanish "no" every negation: neither is VADER's English word
    assert sentiment.mood(text).compound == 0.0
    assert sentiment.mood("I will die of boredom waiting for this parcel").compound < 0


@pytest.mark.parametrize("text, lang", [("die Bestellung ist angekommen, danke", "de"), ("quiero hablar con alguien", "es"),
                                        ("where is my parcel please", "en")])
def test_the_language_a_message_is_written_in_comes_from_the_grammars(text, lang):
    assert lang in explicit.written_in(text)


@pytest.mark.parametrize("text", ["What is your customer service phone number?", "¿cuál es su número de teléfono?",
                                  "Ihre Telefonnummer bitte", "客服电话是多少", "le numéro du service client svp"])
def test_asking_for_a_way_to_reach_a_person_is_a_request(text):
    assert explicit.detect(conv(text)).fired, text


@pytest.mark.parametrize("text", ["what is the restaurant's phone number?", "I need to update my phone number",
                                  "el número de pedido es 1234"])
def test_other_numbers_are_not(text):
    assert explicit.match(text) is None, text
