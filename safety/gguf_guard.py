"""Llama Guard 3 1B from a GGUF file, in process through llama.cpp (when an operator provides the
file: no package ships one). Same prompt and parser as the vLLM guard."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence

from safety.llama_guard import parse_response, render_prompt
from safety.verdict import Verdict

_CONTEXT_TOKENS = 8192


class GgufGuard:
    name = "llama-guard-gguf"

    def __init__(self, path: str, *, categories: Iterable[str], threads: int = 2) -> None:
        self.path = path
        self.categories = tuple(categories)
        self.threads = threads
        self._llama = None
        self._lock = threading.Lock()  # a llama.cpp context serves one request at a time

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        prompt = render_prompt(conversation, agent=agent, categories=self.categories)
        output = await asyncio.to_thread(self._complete, prompt)
        return parse_response(output, categories=self.categories)

    def _complete(self, prompt: str) -> str:
        with self._lock:
            llama = self._load()
            # Tokenized here with special tokens on and no added BOS: the prompt starts with its own.
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            completion = llama.create_completion(tokens, max_tokens=10, temperature=0)
        return completion["choices"][0]["text"]

    def _load(self):  # -> llama_cpp.Llama, imported lazily: only this backend needs llama.cpp
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(self.path, n_ctx=_CONTEXT_TOKENS, n_threads=self.threads, verbose=False)
        return self._llama
