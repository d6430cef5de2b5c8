"""What the red-team corpora of free text share: a note scrubbed as ingest scrubs it, and the
planted identifiers whose letters or digits are still in the output.

A corpus is a list of ``(style, note, planted identifiers, clinical words that must survive)``.
"""

from __future__ import annotations

import re

from twinlab.deid import TextScrubber


def scrubbed(note: str) -> str:
    """``note`` scrubbed as ingest does (patterns and engine, no known values)."""
    return TextScrubber().scrub(note)


def _word(part: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![^\W_]){re.escape(part)}(?![^\W_])")


def leaks(note: str, planted: list[str], out: str) -> list[tuple[str, str]]:
    """``(value, part)`` of each planted value whose letters or digits are still in ``out``:
    runs of 2 or more, or the single letters of initials (``T.W.``), that the rest of the
    note does not hold (a plate whose state went but whose digits stayed is a leak; "PACS"
    of a planted host name is also the word of "PACS server")."""
    rest = note.lower()
    for other in planted:
        rest = rest.replace(other.lower(), " ")
    found = []
    for value in planted:
        parts = [p for p in re.split(r"[\W_]+", value.lower()) if p]
        if not all(len(p) == 1 for p in parts):
            parts = [p for p in parts if len(p) >= 2]
        found += [
            (value, p) for p in parts if not _word(p).search(rest) and _word(p).search(out.lower())
        ]
    return found


def leaks_and_losses(note: str, planted: list[str], kept: list[str]) -> tuple[list, list]:
    """The planted values still in the scrubbed note (:func:`leaks`) and the clinical words
    of ``kept`` no longer in it."""
    out = scrubbed(note)
    return leaks(note, planted, out), [k for k in kept if k not in out]
