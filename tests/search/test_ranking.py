"""Passage splitting, BM25 and the combined BM25 + MiniLM ranking."""

from __future__ import annotations

import math

import pytest

from search.ranking import BM25, PASSAGE_CHARS, score_passages, select_passages, split_passages, words
from tests.search.pages import BREAD_TEXT, VOLCANO_PARAGRAPHS


def test_words_are_lower_case_and_unicode() -> None:
    assert words("Café, CRÈME brûlée — 3 times!") == ["café", "crème", "brûlée", "3", "times"]


def test_passages_join_short_paragraphs_and_cut_long_ones() -> None:
    text = "Short one.\n\nShort two.\n" + "A long sentence about rocks. " * 40
    passages = split_passages(text)
    assert passages[0].startswith("Short one. Short two.")
    assert all(len(p) <= PASSAGE_CHARS for p in passages)
    assert " ".join(passages).split() == text.split()


def test_one_endless_sentence_is_cut_hard() -> None:
    passages = split_passages("x" * (PASSAGE_CHARS * 2 + 5))
    assert [len(p) for p in passages] == [PASSAGE_CHARS, PASSAGE_CHARS, 5]


def test_bm25_prefers_rare_terms_and_repeated_ones() -> None:
    documents = [["the", "cat"], ["the", "dog"], ["the", "dog", "dog"], ["the", "bird"]]
    bm25 = BM25(documents)
    assert bm25.score(["dog"], 2) > bm25.score(["dog"], 1) > 0
    assert bm25.score(["bird"], 3) > bm25.score(["the"], 3)
    assert bm25.score(["fish"], 0) == 0


def test_bm25_normalises_for_length() -> None:
    bm25 = BM25([["lava", "flows"], ["lava", *["filler"] * 30]])
    assert bm25.score(["lava"], 0) > bm25.score(["lava"], 1)


def test_bm25_matches_the_okapi_formula() -> None:
    bm25 = BM25([["a", "b"], ["b", "c", "c"]], k1=1.2, b=0.75)
    assert bm25.idf["c"] == pytest.approx(math.log(1 + (2 - 1 + 0.5) / (1 + 0.5)))
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 2.5)
    assert bm25.score(["c"], 1) == pytest.approx(bm25.idf["c"] * 2 * 2.2 / (2 + norm))


def test_ranking_keeps_the_passages_that_answer_the_question() -> None:
    text = "\n\n".join(VOLCANO_PARAGRAPHS * 3 + [BREAD_TEXT])
    [best] = select_passages("Why are some eruptions explosive?", [text], limit=450)
    assert "explosive" in best
    assert len(best) <= 450


def test_embeddings_find_an_answer_that_shares_no_words() -> None:
    """ "tangy baked goods" shares no word with any passage: BM25 scores all 0, MiniLM still finds the bread."""
    passages = [*VOLCANO_PARAGRAPHS, BREAD_TEXT]
    assert BM25([words(p) for p in passages]).scores(words("tangy baked goods")) == [0.0] * len(passages)
    scores = score_passages("tangy baked goods", passages, openings=set(range(len(passages))))
    assert max(range(len(passages)), key=scores.__getitem__) == len(passages) - 1


def test_without_a_question_pages_keep_their_opening_in_order() -> None:
    text = "\n\n".join(VOLCANO_PARAGRAPHS)
    [chosen] = select_passages("", [text], limit=PASSAGE_CHARS + 10)
    assert chosen == split_passages(text)[0]


def test_each_page_gets_its_own_best_passages() -> None:
    volcano, bread = "\n\n".join(VOLCANO_PARAGRAPHS), BREAD_TEXT
    chosen = select_passages("what makes sourdough sour", [volcano, bread], limit=500)
    assert len(chosen) == 2
    assert chosen[1] == BREAD_TEXT
    assert chosen[0]  # a page that does not answer still gives its best passage
