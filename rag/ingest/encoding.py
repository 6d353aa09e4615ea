"""Detect the encoding of Chinese text bytes from their content, never from the file name."""

from __future__ import annotations

import codecs
from functools import lru_cache

# Encodings tried for bytes that are not valid UTF-8, in order; a candidate wins by how much of
# its decoded text is common Chinese, so GBK text is not misread as Big5 or the other way round.
_LEGACY = ("gb18030", "big5")


class NotTextError(ValueError):
    """The bytes are binary data, not text in any supported encoding."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)`` for text bytes; raise NotTextError for binary data."""
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return _checked(data.decode(enc), enc), enc
    utf16 = _bomless_utf16(data)
    if utf16:
        return utf16
    try:
        return _checked(data.decode("utf-8"), "utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    # UTF-16 without a BOM and with little ASCII has no NUL bytes to give it away: score it too.
    for enc in _LEGACY + (("utf-16-le", "utf-16-be") if len(data) % 2 == 0 else ()):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if not _has_controls(text):
            candidates.append((_common_share(text), enc, text))
    if not candidates:
        raise NotTextError("not UTF-8, UTF-16, GB18030 or Big5 text")
    score, enc, text = max(candidates)
    if score < 0.5:
        raise NotTextError(f"bytes decode as {enc} but do not read as Chinese or Latin text")
    return _checked(text, enc), enc


def _bomless_utf16(data: bytes) -> tuple[str, str] | None:
    """UTF-16 without a BOM: many NUL bytes on one side of each pair."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    for nulls, enc in ((odd, "utf-16-le"), (even, "utf-16-be")):
        if nulls.count(0) > 0.3 * len(nulls) and (even if nulls is odd else odd).count(0) == 0:
            try:
                return _checked(data.decode(enc), enc), enc
            except (UnicodeDecodeError, NotTextError):
                return None
    return None


def _checked(text: str, enc: str) -> str:
    """Reject decoded text that is mostly control characters (a binary file that happens to decode)."""
    if not text:
        return text
    if _has_controls(text):
        raise NotTextError(f"decodes as {enc} but contains binary control characters")
    return text


def _has_controls(text: str) -> bool:
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f")
    return "\x00" in text or controls > 0.01 * max(len(text), 1)


def _common_share(text: str) -> float:
    """Share of non-space characters that are ASCII or among the common Chinese characters."""
    common = _common_chars()
    from rag.text.normalize import to_simplified

    simplified = to_simplified(text)
    chars = [c for c in simplified if not c.isspace()]
    if not chars:
        return 0.0
    good = sum(1 for c in chars if c.isascii() or c in common or _is_cjk_punct(c))
    return good / len(chars)


@lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    """The ~4,000 most frequent characters of jieba's dictionary (word frequencies summed per char)."""
    import jieba

    freq: dict[str, int] = {}
    with jieba.get_dict_file() as fh:
        for raw in fh:
            word, count, *_ = raw.decode("utf-8").split(" ")
            n = int(count)
            for c in word:
                freq[c] = freq.get(c, 0) + n
    ranked = sorted(freq, key=freq.__getitem__, reverse=True)
    return frozenset(ranked[:4000])


def _is_cjk_punct(c: str) -> bool:
    return "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef" or c in "“”‘’—…·"
