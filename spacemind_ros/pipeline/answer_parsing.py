"""Model text -> option letter, number with unit, or route steps."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

_WORD_NUMBERS = {
    "zero": 0, "none": 0, "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "half": 0.5,
}
_UNITS = {  # spelling -> (unit, factor to that unit)
    "m": ("m", 1.0), "meter": ("m", 1.0), "meters": ("m", 1.0), "metre": ("m", 1.0), "metres": ("m", 1.0),
    "cm": ("cm", 1.0), "centimeter": ("cm", 1.0), "centimeters": ("cm", 1.0), "centimetre": ("cm", 1.0),
    "centimetres": ("cm", 1.0), "mm": ("cm", 0.1), "millimeters": ("cm", 0.1),
    "m^2": ("m^2", 1.0), "m2": ("m^2", 1.0), "sqm": ("m^2", 1.0), "square meters": ("m^2", 1.0),
    "square metres": ("m^2", 1.0), "ft": ("m", 0.3048), "feet": ("m", 0.3048),
}
_TO_TASK_UNIT = {("cm", "m"): 0.01, ("m", "cm"): 100.0, ("cm", "m^2"): math.nan, ("m", "m^2"): math.nan}
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)\s*(square\s+met(?:er|re)s|m\^2|m2|sqm|centimet(?:er|re)s?|met(?:er|re)s?|"
                     r"millimeters|mm|cm|m|feet|ft)?(?![a-z])", re.IGNORECASE)


def fuzzy_first_word(text: str) -> str:
    """VSI-Bench's fuzzy_matching: first space-separated word, trailing dots removed."""
    return text.strip().split(" ")[0].rstrip(".").strip() if text.strip() else ""


def parse_choice(text: str, options: Sequence[str]) -> str:
    """Option letter the answer names, or "" if none can be told."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    first = fuzzy_first_word(text).strip("()[]:,").upper()
    if first in letters:
        return first
    m = re.search(r"\b(?:option|answer(?: is)?)\s*\(?([A-Z])\b", text, re.IGNORECASE)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    lowered = text.lower()
    named = [letters[i] for i, o in enumerate(options) if o[2:].strip().lower() and o[2:].strip().lower() in lowered]
    return named[0] if len(named) == 1 else ""


def parse_number(text: str, unit: str) -> tuple[float, str]:
    """(value in ``unit``, unit) from text like "1.5m", "150 cm", "two"; (NaN, "") if no number is found."""
    m = _NUMBER.search(text)
    if m:
        value = float(m.group(1))
        said = (m.group(2) or "").lower()
        said = re.sub(r"\s+", " ", said)
        if said in _UNITS:
            said_unit, factor = _UNITS[said]
            value *= factor
            if said_unit != unit and unit != "count":
                conv = _TO_TASK_UNIT.get((said_unit, unit), 1.0)
                if math.isnan(conv):
                    return value, said_unit  # a length where an area was asked: report what was said
                value *= conv
        return value, unit
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _WORD_NUMBERS and word not in ("a", "an"):
            return float(_WORD_NUMBERS[word]), unit
    return math.nan, ""


_ACTIONS = [
    (r"\bturn(?:ing)?\s+(?:back|around)|\bu-?turn|\bturn 180", "TURN_BACK"),
    (r"\bturn(?:ing)?\s+left|\bleft turn|\bgo left", "TURN_LEFT"),
    (r"\bturn(?:ing)?\s+right|\bright turn|\bgo right", "TURN_RIGHT"),
    (r"\bstop|\barrive|\byou(?:'ll| will)? (?:reach|be at)|\bdestination", "STOP"),
    (r"\bforward|\bstraight|\bwalk|\bgo\b|\bmove|\bahead|\bcontinue", "FORWARD"),
]
_LANDMARK = re.compile(r"\b(?:until|to|towards|toward|at|past|reach|by|near)\s+(?:the\s+|a\s+|an\s+)?"
                       r"([a-z][a-z \-]*?)(?=\s*(?:$|[,.;]|\band\b|\bthen\b|\bon\b))", re.IGNORECASE)


def parse_route(text: str) -> tuple[list[str], list[str], list[str]]:
    """Steps, one action per step (FORWARD, TURN_LEFT, TURN_RIGHT, TURN_BACK, STOP) and its landmark ("" if none)."""
    pieces = re.split(r"\n+|;|\d+[.)]\s+|,?\s*\bthen\b\s*|\.\s+", text)
    steps, actions, landmarks = [], [], []
    for piece in pieces:
        piece = piece.strip(" .,-*")
        if not piece:
            continue
        action = next((a for pattern, a in _ACTIONS if re.search(pattern, piece, re.IGNORECASE)), None)
        if action is None:
            continue
        m = _LANDMARK.search(piece)
        steps.append(piece)
        actions.append(action)
        landmarks.append(m.group(1).strip() if m else "")
    return steps, actions, landmarks
