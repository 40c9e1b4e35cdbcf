"""Long answers split at each app's limit on natural boundaries, never inside a word, URL or code."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.adapters.messenger import InstagramAdapter, MessengerAdapter
from integrations.adapters.telegram import TelegramAdapter
from integrations.adapters.whatsapp import WhatsAppAdapter
from integrations.splitting import TextLimit, split_text, utf8_bytes, utf16_units


def test_each_app_has_its_documented_limit() -> None:
    assert (WhatsAppAdapter.text_limit.size, WhatsAppAdapter.text_limit.measure("é")) == (4096, 1)
    assert (MessengerAdapter.text_limit.size, MessengerAdapter.text_limit.measure("é")) == (2000, 1)
    assert (InstagramAdapter.text_limit.size, InstagramAdapter.text_limit.measure("é")) == (1000, 2)  # bytes
    assert (TelegramAdapter.text_limit.size, TelegramAdapter.text_limit.measure("🎉")) == (4096, 2)  # UTF-16


def test_short_text_is_one_message_and_empty_text_none() -> None:
    assert split_text("  Hello!  ", TextLimit(100)) == ["Hello!"]
    assert split_text(" \n ", TextLimit(100)) == []


def test_paragraphs_are_preferred_to_sentences() -> None:
    text = "First sentence. Second sentence.\n\nThird paragraph here."
    assert split_text(text, TextLimit(40)) == ["First sentence. Second sentence.", "Third paragraph here."]


def test_a_long_paragraph_is_cut_after_a_sentence() -> None:
    text = "One two three. Four five six! Seven eight nine?"
    assert split_text(text, TextLimit(31)) == ["One two three. Four five six!", "Seven eight nine?"]


def test_a_long_sentence_is_cut_between_words_and_a_url_stays_whole() -> None:
    url = "https://example.com/a/very/long/path?with=query&and=more"
    text = f"Read this {url} before you go"
    parts = split_text(text, TextLimit(len(url) + 3))
    assert url in parts
    assert " ".join(parts) == text


def test_code_block_is_kept_whole_when_it_fits() -> None:
    code = "```python\nprint('a b c')\nprint('d e f')\n```"
    text = f"Here is code:\n\n{code}\n\nDone."
    assert code in split_text(text, TextLimit(len(code) + 5))


def test_too_long_code_block_is_cut_at_line_ends_with_fences_closed_and_reopened() -> None:
    lines = [f"value_{i} = {i} * 2" for i in range(40)]
    text = "```python\n" + "\n".join(lines) + "\n```"
    parts = split_text(text, TextLimit(120))
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 120
        assert part.startswith("```python\n")
        assert part.endswith("```")
    code_lines = [line for part in parts for line in part.splitlines() if not line.startswith("```")]
    assert code_lines == lines


def test_only_a_word_longer_than_the_limit_is_cut() -> None:
    assert split_text("a " + "x" * 25, TextLimit(10)) == ["a", "x" * 10, "x" * 10, "x" * 5]


def test_instagram_limit_counts_bytes() -> None:
    text = " ".join(["ünïcödé"] * 200)  # 11 bytes a word
    parts = split_text(text, InstagramAdapter.text_limit)
    assert all(utf8_bytes(part) <= 1000 for part in parts)
    assert " ".join(parts) == text


_WORDS = st.one_of(
    st.from_regex(r"[a-zà-ÿ🎉]{1,12}", fullmatch=True),
    st.from_regex(r"https://example\.com/[a-z0-9/._-]{1,19}", fullmatch=True),  # shorter than any limit
    st.sampled_from([".", "!", "?", "\n", "\n\n"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=120), st.integers(min_value=40, max_value=200))
def test_parts_fit_and_keep_every_word(words: list[str], size: int) -> None:
    text = " ".join(words)
    limit = TextLimit(size, utf16_units)
    parts = split_text(text, limit)
    assert all(limit.fits(part) and part == part.strip() and part for part in parts)
    assert re.findall(r"\S+", " ".join(parts)) == re.findall(r"\S+", text)
