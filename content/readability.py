"""Reading grade of plain English text: Flesch-Kincaid grade level and SMOG.

Counted the way a person counting by hand would count, so the figures can be checked:

* **Sentences** end at ``.``, ``!`` or ``?`` (not inside a number such as ``2.5``, not after
  ``e.g.`` or ``i.e.``), and at the end of a paragraph or heading. A colon, a semicolon and a
  line break before a list item do not end a sentence: a sentence that runs on through a
  list is one sentence. (The content's own rule is that every list item ends with a full
  stop, so lists are never scored as one long sentence; ``tests/test_content.py`` checks it.)
* **Words** are runs of letters (with inner apostrophes or hyphens) and numbers.
* **Syllables** are counted as the word is said aloud: a small dictionary of words the
  rules below get wrong, then vowel groups with the usual English corrections (silent final
  *e*, *-ed* and *-es* endings, *-le*, vowel pairs said as two syllables such as *io* in
  *physio*). Initialisms are said letter by letter (*IMS* is three syllables, *COPD* four),
  and numbers as their words (*2,500* is "two thousand five hundred", six syllables),
  which is how SMOG's authors and the NCI ask for them to be counted.

Flesch-Kincaid grade = 0.39 x words per sentence + 11.8 x syllables per word - 15.59.
SMOG grade = 1.043 x sqrt(words of 3+ syllables x 30 / sentences) + 3.1291 (McLaughlin 1969).
Both formulas are only good to about 1.5 grades; SMOG usually reads 1 to 2 grades above
Flesch-Kincaid on the same text. The content gate is FK 7 or lower and SMOG 8 or lower.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

FK_MAX = 7.0
"""Highest Flesch-Kincaid grade a section may have (``content check`` fails above it)."""
SMOG_MAX = 8.0
"""Highest SMOG grade a section may have (``content check`` fails above it)."""

_WORD = r"[A-Za-z]+(?:['’\-][A-Za-z]+)*"
_NUMBER = r"\d[\d,]*(?:\.\d+)?%?"
_TOKEN = re.compile(rf"{_NUMBER}|{_WORD}")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Dr|St|Mr|Mrs|Ms|No)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)|\n[ \t]*\n")
_VOWELS = re.compile(r"[aeiouy]+")

# Words the rules get wrong, with the syllables said aloud (checked against the CMU
# Pronouncing Dictionary where it has the word). Lower case.
_SYLLABLES: dict[str, int] = {
    "acupuncture": 4,
    "alberta": 3,
    "any": 2,
    "anyone": 3,
    "anything": 3,
    "area": 3,
    "areas": 3,
    "being": 2,
    "beyond": 2,
    "british": 2,
    "business": 2,
    "canada": 3,
    "centimetres": 4,
    "centimetre": 4,
    "chemotherapy": 5,
    "choose": 1,
    "clothes": 1,
    "create": 2,
    "created": 3,
    "diabetes": 4,
    "doing": 2,
    "entire": 3,
    "every": 2,
    "everything": 3,
    "everyone": 3,
    "everywhere": 3,
    "fire": 1,
    "fluid": 2,
    "going": 2,
    "guideline": 2,
    "guidelines": 2,
    "idea": 3,
    "ideas": 3,
    "immune": 2,
    "interest": 2,
    "interests": 2,
    "lying": 2,
    "maybe": 2,
    "medicine": 3,
    "medicines": 3,
    "meridians": 4,
    "naturally": 3,
    "nausea": 3,
    "neuropathy": 4,
    "ontario": 4,
    "people": 2,
    "pacemaker": 3,
    "pacemakers": 3,
    "physio": 3,
    "physiology": 5,
    "physiotherapist": 6,
    "physiotherapists": 6,
    "physiotherapy": 6,
    "pneumothorax": 4,
    "poem": 2,
    "quebec": 2,
    "quiet": 2,
    "radiotherapy": 6,
    "reaction": 3,
    "reactions": 3,
    "real": 1,
    "really": 2,
    "science": 2,
    "scientific": 4,
    "seeing": 2,
    "several": 3,
    "someone": 2,
    "something": 2,
    "sometimes": 2,
    "stimulation": 4,
    "trying": 2,
    "usual": 3,
    "usually": 4,
    "video": 3,
    "whole": 1,
    "yes": 1,
}

_LETTER_SYLLABLES = {"w": 3}
"""Letters said aloud: every letter is one syllable except W (double-u)."""

_ONES = [2, 1, 1, 1, 1, 1, 1, 2, 1, 1]  # zero, one, ..., nine
_TEENS = [1, 3, 1, 2, 2, 2, 2, 3, 2, 2]  # ten, eleven, ..., nineteen
_TENS = [0, 0, 2, 2, 2, 2, 2, 3, 2, 2]  # -, -, twenty, ..., ninety


def _below_thousand(n: int) -> int:
    """Syllables of 1 to 999 said in words ("one hundred twenty-two")."""
    total = 0
    if n >= 100:
        total += _ONES[n // 100] + 2  # "hundred"
        n %= 100
    if n >= 20:
        total += _TENS[n // 10] + (_ONES[n % 10] if n % 10 else 0)
    elif n >= 10:
        total += _TEENS[n - 10]
    elif n:
        total += _ONES[n]
    return total


def number_syllables(token: str) -> int:
    """Syllables of a number as said aloud: 24 is "twenty-four" (3), 2,500 is 6."""
    percent = token.endswith("%")
    digits = token.rstrip("%").replace(",", "")
    whole, _, decimals = digits.partition(".")
    value = int(whole) if whole else 0
    total = 0
    if len(whole) == 4 and "," not in token and 1900 <= value <= 2099 and value % 100:
        # A year is said in pairs: 2014 is "twenty fourteen".
        total = _below_thousand(value // 100) + _below_thousand(value % 100)
    elif value == 0:
        total = _ONES[0]
    else:
        for scale in (1_000_000_000, 1_000_000, 1_000):
            if value >= scale:
                total += _below_thousand(value // scale) + 2  # billion, million, thousand
                value %= scale
        total += _below_thousand(value)
    if decimals:
        total += 1 + sum(_ONES[int(d)] for d in decimals)  # "point" and each digit
    if percent:
        total += 2
    return total


_SUFFIXES = ("ments", "ment", "ness", "less", "ful", "ly")
"""Suffixes said as one syllable, counted apart so a silent e before them stays silent
(likely, movement, safely); "-ly" after a consonant and l (simply, gently) is not one."""


def _word_syllables(word: str) -> int:
    w = word.lower().replace("’", "'")
    w = re.sub(r"'(s|d|ll|re|ve|t|m)$", "", w)  # it's, you'd, we'll: no extra syllable
    w = w.replace("'", "")
    if w in _SYLLABLES:
        return _SYLLABLES[w]
    if w.endswith("s") and w[:-1] in _SYLLABLES:
        return _SYLLABLES[w[:-1]]
    if len(w) <= 3:
        return 1
    if w.endswith("ically"):
        return _word_syllables(w[:-4]) + 1  # drastically: drastic + "cly"
    for suffix in _SUFFIXES:
        stem = w[: -len(suffix)]
        if (
            w.endswith(suffix)
            and len(stem) >= 3
            and _VOWELS.search(stem)
            and not (suffix == "ly" and re.search(r"[^aeiouy]l$", stem))
        ):
            return _word_syllables(stem) + 1
    count = len(_VOWELS.findall(w))
    # Vowel pairs said as two syllables (physio, idea, video, usual, fluent, quiet) ...
    count += len(re.findall(r"[^aeiouy](?:io|ia|iu)", w))
    count += len(re.findall(r"[^aeiouy]eo", w))
    count += len(re.findall(r"[^aeiouyqg](?:ua|uo|uen|uel)", w))
    count += len(re.findall(r"[^aeiouytcs]ien", w))  # experience, client (not patient)
    count += len(re.findall(r"[^aeiouy](?:iet|iest|ier)\b|iety", w))  # quiet, easier
    count += len(re.findall(r"[^aeiou]ying|oing|isms?\b|ired\b", w))  # lying, doing, tired
    # ... but not the one-syllable endings -tion, -sion, -cial, -cian, -nion, -llion.
    count -= len(re.findall(r"(?:[tscgx]|ll|n)i(?:on|ous|al|an)", w))
    if re.search(r"[gq]ue[sd]?$", w):
        count -= 1  # fatigue, techniques, fatigued
    elif w.endswith("e") and not (
        re.search(r"[^aeiouy]le$", w) or w.endswith(("ee", "ye", "ie", "ue"))
    ):
        count -= 1  # silent final e: make, while (not table, agree, continue)
    if re.search(r"[^aeiouy]es$", w) and not re.search(
        r"(?:s|x|z|ch|sh|c|g)es$|[^aeiouy]les$|[gq]ues$", w
    ):
        count -= 1  # makes, takes (not boxes, places, changes, muscles)
    if re.search(r"[^aeiouy]ed$", w) and not re.search(r"[td]ed$|[^aeiouyl]led$|[gq]ued$", w):
        count -= 1  # moved, asked (not needed, started, handled)
    return max(1, count)


@lru_cache(maxsize=65536)
def count_syllables(word: str) -> int:
    """Syllables of one token (a word, an initialism or a number) as said aloud (cached:
    ``content check`` scores every section in each of its many variants)."""
    if word[0].isdigit():
        return number_syllables(word)
    if "-" in word:
        return sum(count_syllables(part) for part in word.split("-") if part)
    letters = word.replace("'", "").replace("’", "")
    if len(letters) >= 2 and letters.isupper() and letters.lower() not in _SYLLABLES:
        return sum(_LETTER_SYLLABLES.get(ch, 1) for ch in letters.lower())
    return _word_syllables(word)


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (each holding at least one word)."""
    protected = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", "\0"), text.strip())
    chunks, start = [], 0
    for end in _SENTENCE_END.finditer(protected):
        chunks.append(protected[start : end.end()])
        start = end.end()
    chunks.append(protected[start:])
    return [c.replace("\0", ".").strip() for c in chunks if _TOKEN.search(c)]


@dataclass(frozen=True, slots=True)
class Readability:
    words: int
    sentences: int
    syllables: int
    polysyllables: int
    """Words of three or more syllables (SMOG's count)."""

    @property
    def grade(self) -> float:
        """Flesch-Kincaid grade level."""
        if not self.words:
            return 0.0
        return (
            0.39 * (self.words / max(1, self.sentences))
            + 11.8 * (self.syllables / self.words)
            - 15.59
        )

    @property
    def smog(self) -> float:
        """SMOG grade (McLaughlin 1969), normalised to 30 sentences."""
        if not self.words:
            return 0.0
        return 1.0430 * math.sqrt(self.polysyllables * 30 / max(1, self.sentences)) + 3.1291

    @property
    def passes(self) -> bool:
        """Within the plain-language gate: FK 7 or lower and SMOG 8 or lower."""
        return round(self.grade, 1) <= FK_MAX and round(self.smog, 1) <= SMOG_MAX


def readability(text: str) -> Readability:
    tokens = _TOKEN.findall(text)
    counts = [count_syllables(token) for token in tokens]
    return Readability(
        words=len(tokens),
        sentences=max(1, len(split_sentences(text))),
        syllables=sum(counts),
        polysyllables=sum(1 for c in counts if c >= 3),
    )
