"""Sentiment and frustration over the trajectory of the conversation.

Each customer message gets a frustration score in [0, 1] from VADER's compound score plus cues
VADER does not weigh for support: shouting, "!!!", "I already tried that", insults to the bot,
"fraud", threats to leave, urgency, profanity, complaints. The conversation's score weighs the
latest message most, keeps memory of the previous ones, and rises when mood keeps falling.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentiText, SentimentIntensityAnalyzer

from integration.core.engine.lexicon import written_in
from integration.core.engine.text import evidence_quote, fold, quote
from integration.core.limits import TONE, cut
from integration.core.model import Conversation, Evidence, Finding, Role

_VADER = SentimentIntensityAnalyzer()


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


# (cue, agent-readable label, weight, pattern on folded text)
CUES: tuple[tuple[str, str, float, re.Pattern[str]], ...] = (
    ("insult", "insults the service", 0.6, _words(
        r"useless", r"stupid", r"dumb", r"idiot\w*", r"horrible", r"pathetic", r"terrible", r"worst", r"worsy",
        r"rubbish", r"garbage", r"trash", r"waste\s+(?:of\s+(?:my\s+)?(?:time|money)|app)", r"ridiculous",
        r"unacceptable", r"disgusting", r"incompetent", r"a\s+joke", r"nonsense", r"clueless",
        r"inutil", r"estupid[oa]", r"pesim[oa]", r"una\s+verguenza", r"nul(?:le)?", r"inutile",
        r"honteux", r"lamentable", r"nutzlos", r"unverschamt", r"frechheit", r"katastroph\w*",
        r"pessim[oa]", r"absurdo", r"vergonha",
    )),
    ("fraud", "accuses of fraud or cheating", 0.6, _words(
        r"fraud\w*", r"froud\w*", r"scam\w*", r"cheat\w*", r"not\s+genuine", r"rip\s*-?off",
        r"ripped\s+off", r"thie(?:f|ves)", r"fake\s+(?:teams?|players?|users?|accounts?|reviews?)", r"stealing", r"estafa\w*", r"fraude", r"arnaque\w*",
        r"escroc\w*", r"betrug\w*", r"abzocke", r"golpe",
    )),
    ("complaint", "complains", 0.5, _words(
        r"complain\w*", r"complaint",
        r"(?:lodg\w*|fil(?:e|ing)|filea|mak(?:e|ing)|submit\w*|rais(?:e|ing))\s+(?:an?\s+|my\s+)?(?:\w+\s+)?(?:claim|clain|complaint|reclamation|reclaqmation|reclsmation)",
        r"claim\s+against", r"not\s+(?:happy|satisfied|ok|okay)", r"unhappy", r"disappoint\w*",
        r"frustrat\w*", r"angry", r"annoy\w*", r"furious", r"upset", r"fed\s+up", r"sick\s+of",
        r"tired\s+of", r"(?:bad|poor|awful|worst)\s+(?:service|support|experience|customer\s+\w+)",
        r"no\s*(?:one|body)\s+(?:is\s+)?(?:answering|responding|replying|picking|helping)",
        r"not\s+(?:picking\s+up|reachable|responding)", r"unreachable",
        r"(?:call\s+cent(?:er|re)|customer\s+care|helpline|phone|number)[\w\s]{0,15}?(?:unavailable|not\s+(?:reachable|available|working|picking\s+up)|invalid)", r"(?:not|never)\s+(?:been\s+)?resolved",
        r"queja", r"reclamacion", r"molest[oa]", r"plainte", r"reclamation", r"decu", r"en\s+colere",
        r"beschwerde", r"verargert", r"enttauscht", r"reclamacao", r"chatead[oa]", r"decepcionad[oa]",
    )),
    ("already_tried", "says the help so far did not work", 0.4, _words(
        r"already\s+(?:tried|did|done|told|said|sent|explained|restarted|checked|asked|gave)",
        r"i\s+(?:just\s+)?(?:said|told\s+you)", r"as\s+i\s+(?:said|mentioned)", r"again\s+and\s+again",
        r"still\s+(?:not|no|doesn'?t|isn'?t|hasn'?t|haven'?t|nothing|waiting|broken)",
        r"for\s+the\s+(?:second|third|fourth|\d+(?:st|nd|rd|th))\s+time", r"how\s+many\s+times",
        r"keeps?\s+(?:asking|saying|telling|happening)", r"same\s+(?:answer|thing|question|problem|issue)",
        r"not\s+(?:helpful|helping|what\s+i\s+(?:asked|said|want\w*))", r"(?:of\s+)?no\s+help", r"(?:doesn'?t|didn'?t|did\s+not|does\s+not)\s+help",
        r"(?:did\s+you\s+not|you\s+don'?t|you\s+do\s+not|you\s+didn'?t)\s+understand", r"not\s+answered",
        r"(?:didn'?t|did\s+not|doesn'?t|does\s+not)\s+work", r"ya\s+(?:lo\s+)?(?:intente|dije|hice)",
        r"deja\s+(?:essaye|dit)", r"schon\s+(?:versucht|gesagt)", r"ja\s+(?:tentei|disse)",
    )),
    ("threat_to_leave", "threatens to leave", 0.5, _words(
        r"switch(?:ing)?\s+(?:to\s+)?(?:another|a\s+different|a\s+competitor|your\s+competitor)\w*",
        r"(?:go|going|move|moving)\s+to\s+(?:a\s+|your\s+)?competitor\w*",
        r"(?:i'?m|i\s+am)\s+done", r"never\s+(?:again|use|order|buy|shop)", r"take\s+my\s+business",
        r"(?:leave|leaving)\s+(?:you|your)", r"bad\s+review", r"report\s+(?:you|this)", r"uninstall\w*",
        r"last\s+time\s+i", r"me\s+voy\s+a\s+la\s+competencia", r"je\s+vais\s+partir", r"nie\s+wieder",
    )),
    ("urgency", "says it is urgent", 0.5, _words(
        r"urgent\w*", r"emergency", r"asap", r"immediate\w*", r"dringend", r"urgente",
        # "right now" is urgent in a demand, not in a question ("can I order right now?")
        r"right\s+now(?![^.!]*\?)",
        r"inmediat\w*", r"imediat\w*", r"sofort",
    )),
    ("profanity", "swears", 0.5, re.compile(
        r"\b(?:(?:god)?damn\w*|crap\w*|shit\w*|fuck\w*|f\*+k\w*|wtf|bloody|sucks?|bs|hell|mierda|merde|putain|schei(?:ss|ß)e?\w*|porra)\b"
    )),
)
_SHOUT_WORD = re.compile(r"\b[A-Z]{3,}\b")
_REPEATED_PUNCT = re.compile(r"[!?]{2,}")


@dataclass(frozen=True)
class MessageMood:
    compound: float  # VADER, -1..1
    frustration: float  # 0..1
    cues: tuple[tuple[str, str], ...]  # (label, quoted span)


_LEXICON = _VADER.lexicon
_EMOJI = frozenset(_VADER.emojis)
_ANY_CUE = re.compile("|".join(f"(?:{pattern.pattern})" for _, _, _, pattern in CUES))


def _compound(text: str, english: Callable[[], bool] = lambda: True) -> float:
    """VADER's compound score, 0 unless ``english()`` says VADER can read the text. A text none of
    whose words (split and stripped of punctuation as VADER does) is in VADER's lexicon, and with
    no emoji, scores exactly 0: VADER is not run (half of customer messages, and most of the
    engine's time in VADER), nor is ``english`` asked."""
    if not (text.isascii() or _EMOJI.isdisjoint(text)):
        return _VADER.polarity_scores(text)["compound"] if english() else 0.0
    for token in text.split():
        stripped = token.strip(string.punctuation)
        if (token if len(stripped) <= 2 else stripped).lower() in _LEXICON:
            break
    else:
        return 0.0
    if not english():
        return 0.0
    # VADER's polarity_scores without its first step, a loop over every character looking for
    # emoji to spell out: there is none here, and that loop cost as much as the scoring
    text = text.strip()
    sentitext = SentiText(text)
    words = sentitext.words_and_emoticons
    sentiments: list[float] = []
    for i, item in enumerate(words):
        lower = item.lower()
        if lower in BOOSTER_DICT or (lower == "kind" and i < len(words) - 1 and words[i + 1].lower() == "of"):
            sentiments.append(0)
            continue
        sentiments = _VADER.sentiment_valence(0, sentitext, item, i, sentiments)
    sentiments = _VADER._but_check(words, sentiments)
    return _VADER.score_valence(sentiments, text)["compound"]


def _english(text: str) -> bool:
    """Whether VADER, whose lexicon is English, can read the text: not when its words are plainly
    of another language (German "die" is an article, not the verb VADER scores -2.9; Spanish "no"
    is every negation, not a refusal worth -1.2)."""
    languages = written_in(text)
    return not languages or "en" in languages


@lru_cache(maxsize=16384)
def mood(text: str) -> MessageMood:
    compound = _compound(cut(text, TONE), lambda: _english(text))
    folded = fold(text)
    score = max(0.0, -compound) * 0.7
    cues: list[tuple[str, str]] = []
    if _ANY_CUE.search(folded):  # one search tells whether any cue is there at all
        for _, label, weight, pattern in CUES:
            m = pattern.search(folded)
            if m:
                score += weight
                cues.append((label, evidence_quote(text, m)))
    shouted = _SHOUT_WORD.findall(text)
    if len(shouted) >= 2:
        letters = [c for c in text if c.isalpha()]
        caps = sum(c.isupper() for c in letters) > 0.6 * len(letters)
        if len(letters) >= 8 and (len(shouted) >= 3 or caps):
            score += 0.3
            cues.append(("shouts", quote(text, 0, len(text))))
    m = _REPEATED_PUNCT.search(text)
    if m:
        score += 0.2
        cues.append(("repeated punctuation", quote(text, m.start(), m.end())))
    return MessageMood(compound, min(1.0, score), tuple(cues))


TRAJECTORY = 8  # customer messages whose mood is read: the score weighs the last four, the note shows eight


def detect(conversation: Conversation, threshold: float = 0.5) -> Finding:
    indexed = [(i, m) for i, m in enumerate(conversation.messages) if m.role is Role.CUSTOMER][-TRAJECTORY:]
    if not indexed:
        return Finding("sentiment", False, 0.0, threshold, "No customer message yet.")
    moods = [(i, msg, mood(msg.text)) for i, msg in indexed]
    last = moods[-1][2].frustration
    earlier = [m.frustration for _, _, m in moods[-4:-1]]
    score = last
    if earlier:
        # memory: an angry customer who calms down for one message is still an angry customer
        score = max(last, 0.5 * last + 0.5 * max(earlier))
        compounds = [m.compound for _, _, m in moods[-3:]]
        if len(compounds) == 3 and compounds[0] > compounds[1] > compounds[2] and compounds[2] < -0.2:
            score = min(1.0, score + 0.15)  # getting worse message after message
    evidence = tuple(
        Evidence(i, span, m.frustration, threshold, label)
        for i, _, m in moods[-4:]
        for label, span in m.cues
    ) or tuple(
        Evidence(i, quote(msg.text, 0, len(msg.text)), m.frustration, threshold, "negative tone")
        for i, msg, m in moods[-4:]
        if m.compound <= -0.3
    )
    fired = score >= threshold
    labels = sorted({e.note for e in evidence})
    if fired:
        summary = "The customer is frustrated" + (f" ({', '.join(labels)})." if labels else ".")
    elif score > 0.2:
        summary = "The customer sounds unhappy" + (f" ({', '.join(labels)})" if labels else "") + ", not yet angry."
    else:
        summary = "The customer's tone is neutral or positive."
    return Finding(
        "sentiment", fired, round(score, 3), threshold, summary, evidence,
        details={"trajectory": tuple(m.compound for _, _, m in moods)},
    )
