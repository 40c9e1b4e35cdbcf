"""fit_to_window: property tests against an independent description of what must be kept."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_service.chat_formats import ChatMessage
from model_service.context import ContextTooLong, FittedPrompt, fit_to_window


@dataclass(frozen=True)
class Case:
    messages: list[ChatMessage]
    counts: list[int]
    fixed: int
    window: int
    max_tokens: int


ONE_ANSWER = st.just(1)


@st.composite
def cases(draw: st.DrawFn, answers_per_turn: st.SearchStrategy[int] = ONE_ANSWER) -> Case:
    """Optional system first, then turns of a user message and its answers, ending with a user message.

    Contents are unique, so kept messages can be traced back to their positions.
    """
    roles = ["system"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 8))):
        roles += ["user"] + ["assistant"] * draw(answers_per_turn)
    roles.append("user")
    messages = [ChatMessage(role, f"m{index}") for index, role in enumerate(roles)]  # type: ignore[arg-type]
    counts = draw(st.lists(st.integers(1, 60), min_size=len(roles), max_size=len(roles)))
    fixed = draw(st.integers(0, 20))
    max_tokens = draw(st.integers(1, 200))
    window = draw(st.integers(1, 700))
    return Case(messages, counts, fixed, window, max_tokens)


def turn_starts(case: Case, head: int) -> list[int]:
    """Indices of the user messages that begin the history turns, oldest first (the newest message excluded)."""
    return [i for i in range(head, len(case.messages) - 1) if case.messages[i].role == "user"]


def check_fit(case: Case) -> None:
    messages, counts = case.messages, case.counts
    head = 1 if messages[0].role == "system" else 0
    essential = sum(counts[:head]) + counts[-1]
    needed = essential + case.fixed + case.max_tokens

    def fit() -> FittedPrompt:
        return fit_to_window(messages, counts, fixed_tokens=case.fixed, window=case.window, max_tokens=case.max_tokens)

    if needed > case.window:
        with pytest.raises(ContextTooLong) as caught:
            fit()
        assert (caught.value.needed, caught.value.available) == (needed, case.window)
        return
    fitted = fit()  # raises nothing: system + newest message fit
    assert isinstance(fitted, FittedPrompt)

    index_of = {m.content: i for i, m in enumerate(messages)}
    kept = [index_of[m.content] for m in fitted.messages]
    assert fitted.messages == [messages[i] for i in kept]
    assert fitted.prompt_tokens == case.fixed + sum(counts[i] for i in kept)
    assert fitted.prompt_tokens + case.max_tokens <= case.window
    assert fitted.dropped_messages == len(messages) - len(kept)
    if head:
        assert kept[0] == 0, "the system message is kept, first"
    history = kept[head:]
    assert history[-1] == len(messages) - 1, "the newest message is kept"
    assert history == list(range(history[0], len(messages))), "kept history is a contiguous suffix"
    assert messages[history[0]].role == "user", "kept history starts with a user turn"

    # Greedy, newest first: the next older whole turn would not have fitted.
    older = [start for start in turn_starts(case, head) if start < history[0]]
    if older:
        next_turn = range(older[-1], history[0])
        assert fitted.prompt_tokens + sum(counts[i] for i in next_turn) + case.max_tokens > case.window


@settings(max_examples=600, deadline=None)
@given(cases())
def test_fit_to_window_alternating_turns(case: Case) -> None:
    check_fit(case)


@settings(max_examples=400, deadline=None)
@given(cases(answers_per_turn=st.integers(0, 3)))
def test_fit_to_window_turns_with_any_number_of_answers(case: Case) -> None:
    check_fit(case)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_a_window_that_fits_everything_drops_nothing(case: Case) -> None:
    everything = sum(case.counts) + case.fixed + case.max_tokens
    roomy = Case(case.messages, case.counts, case.fixed, everything, case.max_tokens)

    fitted = fit_to_window(
        roomy.messages, roomy.counts, fixed_tokens=roomy.fixed, window=roomy.window, max_tokens=roomy.max_tokens
    )

    assert fitted.messages == case.messages
    assert fitted.dropped_messages == 0
    assert fitted.prompt_tokens + roomy.max_tokens == roomy.window


@settings(max_examples=200, deadline=None)
@given(cases())
def test_the_window_boundary_is_inclusive(case: Case) -> None:
    head = 1 if case.messages[0].role == "system" else 0
    needed = sum(case.counts[:head]) + case.counts[-1] + case.fixed + case.max_tokens

    def fit(window: int) -> FittedPrompt:
        return fit_to_window(
            case.messages, case.counts, fixed_tokens=case.fixed, window=window, max_tokens=case.max_tokens
        )

    exact = fit(needed)
    assert exact.prompt_tokens + case.max_tokens == needed
    assert exact.messages == [*case.messages[:head], case.messages[-1]]  # every count is >= 1: no turn fits
    with pytest.raises(ContextTooLong):
        fit(needed - 1)


def test_oldest_turns_are_dropped_whole() -> None:
    messages = [
        ChatMessage("system", "sys"),
        ChatMessage("user", "u1"),
        ChatMessage("assistant", "a1"),
        ChatMessage("user", "u2"),
        ChatMessage("assistant", "a2"),
        ChatMessage("user", "u3"),
    ]
    # budget = 100 - 50 - 3 = 47; sys + u3 = 20; turn (u2, a2) = 10 fits; turn (u1, a1) = 50 does not.
    fitted = fit_to_window(messages, [10, 20, 30, 5, 5, 10], fixed_tokens=3, window=100, max_tokens=50)

    assert fitted == FittedPrompt(messages=[messages[0], *messages[3:]], prompt_tokens=33, dropped_messages=2)


def test_pinned_messages_stay_however_long_the_conversation() -> None:
    """A tools offer after the system message is kept as the system message is: old turns go first."""
    messages = [
        ChatMessage("system", "s"),
        ChatMessage("user", "offer"),
        ChatMessage("user", "u1"),
        ChatMessage("assistant", "a1"),
        ChatMessage("user", "u2"),
    ]
    # budget = 60 - 20 - 0 = 40: system + offer + u2 = 35; the turn (u1, a1) = 10 does not fit.
    fitted = fit_to_window(messages, [10, 15, 5, 5, 10], fixed_tokens=0, window=60, max_tokens=20, pinned=2)

    assert fitted.messages == [messages[0], messages[1], messages[4]]
    assert fitted.dropped_messages == 2
    unpinned = fit_to_window(messages, [10, 15, 5, 5, 10], fixed_tokens=0, window=60, max_tokens=20)
    assert messages[1] not in unpinned.messages


def test_a_turn_that_would_fit_only_without_its_answer_is_dropped() -> None:
    messages = [ChatMessage("user", "u1"), ChatMessage("assistant", "a1"), ChatMessage("user", "u2")]
    # budget 20: u2 = 10, u1 alone (5) would fit, but the turn u1 + a1 (15) does not.
    fitted = fit_to_window(messages, [5, 10, 10], fixed_tokens=0, window=30, max_tokens=10)

    assert fitted.messages == [messages[2]]
    assert fitted.prompt_tokens == 10
    assert fitted.dropped_messages == 2


def test_system_and_newest_message_that_do_not_fit_raise() -> None:
    messages = [ChatMessage("system", "s"), ChatMessage("user", "u1"), ChatMessage("user", "u2")]

    with pytest.raises(ContextTooLong) as caught:
        fit_to_window(messages, [30, 1, 50], fixed_tokens=5, window=100, max_tokens=20)

    assert (caught.value.needed, caught.value.available) == (105, 100)


@pytest.mark.parametrize(("messages", "counts"), [([], []), ([ChatMessage("user", "u")], [1, 2])])
def test_bad_arguments_raise_value_error(messages: list[ChatMessage], counts: list[int]) -> None:
    with pytest.raises(ValueError, match="non-empty and of equal length"):
        fit_to_window(messages, counts, fixed_tokens=0, window=100, max_tokens=10)
