"""Token counts for budgets and chunk sizes. Callers that know the served model pass its counter;
this default is the real Llama 3 tokenizer (model_service/tokens.py), the production model's."""

from __future__ import annotations

from collections.abc import Callable

from model_service.tokens import llama3_tokenizer

TokenCounter = Callable[[str], int]


def llama3_tokens(text: str) -> int:
    return len(llama3_tokenizer().encode_text(text))
