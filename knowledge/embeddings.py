"""MiniLM vectors (search/ranking.py's model, loaded once per process) as stored bytes and back."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from search import ranking

BATCH = 32
Embedded = Callable[[], np.ndarray]  # one text's vector, computed on the first call only


def embed(texts: Sequence[str]) -> np.ndarray:
    """One normalised float32 row per text, so a dot product is the cosine similarity."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return ranking.embedder().encode(list(texts), batch_size=BATCH)


def embedded(text: str) -> Embedded:
    """`text`'s vector, computed when first asked for: a caller that finds nothing to compare pays nothing."""
    return functools.cache(lambda: embed([text])[0])


def to_bytes(vector: np.ndarray) -> bytes:
    return vector.astype(np.float32).tobytes()


def matrix(stored: Sequence[bytes]) -> np.ndarray:
    """Stored vectors as the rows of one matrix."""
    return np.vstack([np.frombuffer(bytes(blob), dtype=np.float32) for blob in stored])
