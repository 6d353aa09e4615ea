"""Where stored text came from: offsets into the text as it was extracted from the file.

The normaliser changes what a person searching the original file would look for (``,`` → ``，``,
pinyin glosses and wrapped lines removed, page headers dropped), so a quote verbatim in the stored
text is often not verbatim in the original. Normalising a :class:`Traced` string carries, for every
stored character, the offset of the original character it came from; :func:`edits_between` turns
that into a short list of edits — ``(start, end, original)``: ``stored[start:end]`` stands where
the original had ``original``, and everything between edits is unchanged — which is all an index
needs to keep to give any stored span its original offsets and wording (:func:`original_span`,
:func:`original_text`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.models import Edit


@dataclass(frozen=True)
class Traced:
    """A string with, for each character, the offset in the original text it came from.

    Offsets never decrease along the string. ``end`` is the offset just past what the last
    character came from (where the original goes on): a character a transformation inserts after
    this string (a line break between paragraphs, a space joining wrapped Latin lines) takes it.
    """

    text: str
    origin: array
    end: int

    @classmethod
    def of(cls, text: str, at: int = 0) -> Traced:
        return cls(text, array("q", range(at, at + len(text))), at + len(text))

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, index: slice) -> Traced:
        _, stop, _ = index.indices(len(self.text))
        return Traced(self.text[index], self.origin[index], self.origin[stop] if stop < len(self.text) else self.end)

    def __add__(self, other: Traced) -> Traced:
        return Traced(self.text + other.text, self.origin + other.origin, other.end if len(other) else self.end)

    def inserted(self, chars: str, at: int | None = None) -> Traced:
        """``chars`` as if inserted by a transformation right after this string (or at ``at``)."""
        at = self.end if at is None else at
        return Traced(chars, array("q", [at] * len(chars)), at)

    def sub(self, pattern: re.Pattern[str], repl: str | Callable[[re.Match[str]], str]) -> Traced:
        """``pattern.sub(repl, text)`` keeping offsets: a replacement of the same length maps
        character to character, a shorter one keeps its first offsets, a longer one repeats the last."""
        texts: list[str] = []
        origins = array("q")
        last = 0
        for m in pattern.finditer(self.text):
            new = repl(m) if callable(repl) else repl
            texts.append(self.text[last:m.start()])
            origins.extend(self.origin[last:m.start()])
            old = self.origin[m.start():m.end()]
            if len(new) <= len(old):
                origins.extend(old[:len(new)])
            else:
                pad = old[-1] if old else (self.origin[m.start()] if m.start() < len(self) else self.end)
                origins.extend(old)
                origins.extend([pad] * (len(new) - len(old)))
            texts.append(new)
            last = m.end()
        if not texts:
            return self
        texts.append(self.text[last:])
        origins.extend(self.origin[last:])
        return Traced("".join(texts), origins, self.end)

    def translate(self, table: dict[int, int]) -> Traced:
        """``str.translate`` with a one-character-for-one table."""
        return Traced(self.text.translate(table), self.origin, self.end)

    def nfc(self) -> Traced:
        """Unicode NFC; a composed character takes the offset of the first one it was made of."""
        if unicodedata.is_normalized("NFC", self.text):
            return self
        texts: list[str] = []
        origins = array("q")
        start = 0
        for i in range(1, len(self.text) + 1):
            if i == len(self.text) or not unicodedata.combining(self.text[i]):
                cluster = unicodedata.normalize("NFC", self.text[start:i])
                texts.append(cluster)
                origins.extend(self.origin[start:start + len(cluster)] if len(cluster) <= i - start
                               else [self.origin[start]] * len(cluster))
                start = i
        return Traced("".join(texts), origins, self.end)

    def split(self, sep: str) -> list[Traced]:
        out, at = [], 0
        for piece in self.text.split(sep):
            out.append(self[at:at + len(piece)])
            at += len(piece) + len(sep)
        return out

    def strip(self, chars: str | None = None) -> Traced:
        left = len(self.text) - len(self.text.lstrip(chars))
        return self[left:left + len(self.text.strip(chars))] if left < len(self.text) else self[0:0]

    def lstrip(self, chars: str | None = None) -> Traced:
        return self[len(self.text) - len(self.text.lstrip(chars)):]

    @staticmethod
    def join(sep: str, parts: Sequence[Traced]) -> Traced:
        """``sep.join`` of the parts; each separator takes the ``end`` of the part before it."""
        if not parts:
            return Traced("", array("q"), 0)
        texts, origins, end = [parts[0].text], array("q", parts[0].origin), parts[0].end
        for part in parts[1:]:
            if sep:
                texts.append(sep)
                origins.extend([end] * len(sep))
            texts.append(part.text)
            origins.extend(part.origin)
            if len(part):
                end = part.end
        return Traced("".join(texts), origins, end)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def edits_between(stored: Traced, original: str) -> tuple[Edit, ...]:
    """The edits that turn ``stored.text`` back into ``original`` (see the module docstring).

    Each stored character stands for the original text from its own offset up to the next stored
    character's: the first character of that (with any combining marks after it) is what it was
    made from, the rest is what the normaliser removed after it. A character with nothing behind
    it was inserted. Runs of character-for-character substitutions become one edit.
    """
    n = len(stored)
    if n == 0:
        return (Edit(0, 0, original),) if original else ()
    origin = np.frombuffer(stored.origin, dtype=np.int64)
    bounds = np.append(origin, len(original))
    codes_s, codes_o = _codes(stored.text), _codes(original)
    inside = np.minimum(origin, max(len(original) - 1, 0))
    same = (np.diff(bounds) == 1) & (codes_o[inside] == codes_s) if len(original) else np.zeros(n, bool)
    edits: list[Edit] = []
    if origin[0] > 0:
        edits.append(Edit(0, 0, original[:int(origin[0])]))
    for i in np.flatnonzero(~same).tolist():
        cover = original[int(bounds[i]):int(bounds[i + 1])]
        made_from = 1 if cover else 0
        while made_from < len(cover) and unicodedata.combining(cover[made_from]):
            made_from += 1
        if cover[:made_from] != stored.text[i]:
            _add(edits, Edit(i, i + 1, cover[:made_from]))
        if made_from < len(cover):
            _add(edits, Edit(i + 1, i + 1, cover[made_from:]))
    return tuple(edits)


def _add(edits: list[Edit], edit: Edit) -> None:
    """Append ``edit``, joining it to the last one when both replace character for character."""
    last = edits[-1] if edits else None
    if (last is not None and last.end == edit.start and len(edit.original) == edit.end - edit.start == 1
            and len(last.original) == last.end - last.start > 0):
        edits[-1] = Edit(last.start, edit.end, last.original + edit.original)
    else:
        edits.append(edit)


def original_text(stored: str, edits: Sequence[Edit]) -> str:
    """The original text that ``stored`` was normalised from."""
    parts, at = [], 0
    for e in edits:
        parts.append(stored[at:e.start])
        parts.append(e.original)
        at = e.end
    parts.append(stored[at:])
    return "".join(parts)


def original_span(edits: Sequence[Edit], start: int, end: int) -> tuple[int, int]:
    """Offsets in the original text of the stored span ``[start, end)``.

    What the normaliser removed right before ``start`` or right after ``end`` is left out; a span
    boundary inside a changed stretch widens to the whole stretch (unless it was changed character
    for character), so the original span always holds everything the stored span came from.
    """
    return _boundary(edits, start, opening=True), _boundary(edits, end, opening=False)


def _boundary(edits: Sequence[Edit], at: int, *, opening: bool) -> int:
    shift = 0  # original length minus stored length of the edits passed so far
    for e in edits:
        if e.start == e.end == at:  # removed text right at the boundary stays outside the span
            if opening:
                shift += len(e.original)
                continue
            break
        if e.end <= at:
            shift += len(e.original) - (e.end - e.start)
            continue
        if e.start < at:  # the boundary falls inside a changed stretch
            if e.end - e.start == len(e.original):  # character for character (２０２０ → 2020)
                return at + shift
            return e.start + shift + (0 if opening else len(e.original))  # widen to all of it
        break
    return at + shift


def encode_edits(edits: Sequence[Edit]) -> str:
    """Edits as stored in an index (compact JSON)."""
    return json.dumps([list(e) for e in edits], ensure_ascii=False, separators=(",", ":"))


def decode_edits(value: str | None) -> tuple[Edit, ...]:
    return tuple(Edit(int(s), int(e), str(o)) for s, e, o in json.loads(value)) if value else ()
