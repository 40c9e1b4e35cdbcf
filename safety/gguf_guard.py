"""Llama Guard 3 1B from a GGUF file, in process through llama.cpp (when an operator provides the
file: no package ships one). Same prompt, token ids and parser as the vLLM guard: the prompt's
segments are tokenized one by one with the GGUF's own vocabulary (model_service/tokens.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence

from model_service.messages import Segment
from model_service.tokens import GgufTokenizer, encode
from safety.llama_guard import guard_prompt_segments, parse_response
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
        segments = guard_prompt_segments(conversation, agent=agent, categories=self.categories)
        output = await asyncio.to_thread(self._complete, segments)
        return parse_response(output, categories=self.categories)

    def _complete(self, segments: list[Segment]) -> str:
        with self._lock:
            llama = self._load()
            # A token list gets no BOS added: the prompt starts with its own.
            tokens = encode(segments, GgufTokenizer(llama))
            completion = llama.create_completion(tokens, max_tokens=10, temperature=0)
        return completion["choices"][0]["text"]

    def _load(self):  # -> llama_cpp.Llama, imported lazily: only this backend needs llama.cpp
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(self.path, n_ctx=_CONTEXT_TOKENS, n_threads=self.threads, verbose=False)
        return self._llama
