"""When answers search, how sources enter the prompt, and which citations hold."""

from assistant.engine.grounding import (
    SEARCH_FAILED_NOTE,
    SOURCES_PREAMBLE,
    invalid_citations,
    plan_search,
    sources_block,
)
from assistant.models import SearchMode
from search.sources import Source


def test_off_uses_no_web_even_for_shared_links() -> None:
    assert plan_search(SearchMode.OFF, "What is on https://example.org/news today?") is None


def test_on_searches_every_question() -> None:
    plan = plan_search(SearchMode.ON, "Why is the sky blue?")
    assert plan is not None
    assert plan.query == "Why is the sky blue?"
    assert plan.urls == ()


def test_auto_searches_time_sensitive_questions_only() -> None:
    assert plan_search(SearchMode.AUTO, "Why is the sky blue?") is None
    plan = plan_search(SearchMode.AUTO, "What is the weather in Lisbon today?")
    assert plan is not None
    assert plan.query


def test_auto_reads_shared_links_without_searching() -> None:
    plan = plan_search(SearchMode.AUTO, "Summarise https://example.org/post please")
    assert plan is not None
    assert plan.query == ""
    assert plan.urls == ("https://example.org/post",)


def test_sources_are_numbered_and_marked_untrusted() -> None:
    sources = [Source("First", "https://a.example/1", "Alpha text."), Source("Second", "https://b.example/2", "Beta.")]
    block = sources_block(sources, error="")
    assert block.startswith(SOURCES_PREAMBLE)
    assert "untrusted data" in block
    assert "[1] First\nhttps://a.example/1\nAlpha text." in block
    assert "[2] Second\nhttps://b.example/2\nBeta." in block


def test_failed_search_tells_the_model_to_say_so() -> None:
    assert sources_block([], error="The search provider did not answer.") == SEARCH_FAILED_NOTE
    assert sources_block([], error="") == ""


def test_citations_beyond_the_sources_are_invalid() -> None:
    answer = "Paris is the capital [1]. It has 2 million people [2][5]. Also [0] and again [5]."
    assert invalid_citations(answer, source_count=2) == [5, 0]


def test_brackets_in_code_are_not_citations() -> None:
    answer = "Use `items[3]` like this [1]:\n```python\nprint(values[7])\n```\nand see [4]."
    assert invalid_citations(answer, source_count=1) == [4]
