"""The shared Chinese-text toolkit: normalising, search keys, sentences, words, question analysis.

Every other layer imports from here and nothing here imports from them.
"""

from rag.text.directives import DIRECTIVE_RULES, directive_sentences, gives_orders, steers
from rag.text.match import contains, coverage, evidence_windows, focus_window, folded, found
from rag.text.normalize import (CJK, HEADING_START, NORMALIZER_VERSION, TABLE_CELL_GAP, normalize_text,
                                search_key, sentence_spans, to_simplified, to_traditional)
from rag.text.places import Place, lies_within, places_in, short_of
from rag.text.question import ADMIN_LEVEL, POLITICAL_FORMULA, QUOTED, ROLE, analyze_question
from rag.text.words import posseg, tokenize

__all__ = ["ADMIN_LEVEL", "CJK", "DIRECTIVE_RULES", "HEADING_START", "NORMALIZER_VERSION", "Place", "TABLE_CELL_GAP", "QUOTED", "POLITICAL_FORMULA", "ROLE", "analyze_question",
           "contains", "coverage", "directive_sentences", "evidence_windows", "focus_window", "folded", "found", "gives_orders",
           "lies_within", "normalize_text", "places_in", "posseg", "search_key", "sentence_spans", "short_of", "steers",
           "to_simplified", "to_traditional", "tokenize"]
