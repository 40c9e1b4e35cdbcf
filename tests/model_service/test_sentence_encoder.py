"""The ONNX export of all-MiniLM-L6-v2 gives the vectors sentence-transformers gives on the same
weights (its reference implementation), for one text and for batches that need padding, in every
script the product speaks, with the same truncation; the export is made once and reused."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from model_service.sentence_encoder import DIMENSIONS, exported_model, sentence_encoder, weights_dir

TEXTS = [
    "Write a Python function that checks whether a number is prime.",
    "Wie wird das Wetter morgen in Berlin?",
    "नमस्ते, मुझे दिल्ली के बारे में बताइए",
    "สวัสดีครับ วันนี้อากาศเป็นอย่างไร",
    "ok",
    "a long passage " * 200,  # past the model's 256 tokens: truncated as the reference truncates
]


@pytest.fixture(scope="module")
def reference() -> SentenceTransformer:
    return SentenceTransformer(str(weights_dir()), device="cpu", local_files_only=True)


def test_the_vectors_are_the_reference_vectors(reference: SentenceTransformer) -> None:
    ours = sentence_encoder().encode(TEXTS, batch_size=4)
    theirs = reference.encode(TEXTS, normalize_embeddings=True)

    assert ours.shape == (len(TEXTS), DIMENSIONS)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_a_text_alone_and_in_a_padded_batch_gets_the_same_vector() -> None:
    encoder = sentence_encoder()

    alone = encoder.encode([TEXTS[4]])
    batched = encoder.encode(TEXTS)

    np.testing.assert_allclose(alone[0], batched[4], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_a_shorter_token_limit_truncates_like_the_reference(reference: SentenceTransformer) -> None:
    reference.max_seq_length = 16
    try:
        theirs = reference.encode(TEXTS[5:], normalize_embeddings=True)
    finally:
        reference.max_seq_length = 256

    np.testing.assert_allclose(sentence_encoder(max_tokens=16).encode(TEXTS[5:]), theirs, atol=1e-5)


def test_the_export_is_made_once_per_machine() -> None:
    first = exported_model()
    written = first.stat().st_mtime_ns

    assert exported_model() == first
    assert first.stat().st_mtime_ns == written
    assert first.suffix == ".onnx"
