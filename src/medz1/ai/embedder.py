"""Embedders: the protocol a model implements, the offline default and optional plug-ins.

medz1 ships no model weights. :class:`HashingEmbedder` is deterministic and needs nothing
but numpy: each text becomes signed counts of hashed word unigrams, word bigrams and
character trigrams (the "hashing trick", Weinberger et al. 2009), L2-normalised, so texts
that share words and word pieces are close by cosine distance. It lets the demo and the
tests run anywhere. A real model plugs in through :class:`Embedder`: a
sentence-transformers model already on disk (:class:`SentenceTransformerEmbedder`, needs
the optional ``sentence-transformers`` package) or an HTTP endpoint
(:class:`HttpEmbedder`, standard library only). :func:`load_embedder` picks one from a
specification string (setting ``MEDZ1_AI_EMBEDDER``).
"""

from __future__ import annotations

import importlib
import json
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from medz1.errors import ConfigurationError, DataError, ServerError
from medz1.models.ai import EMBEDDING_DIMENSIONS

Vectors = npt.NDArray[np.float32]

_WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors; what :mod:`medz1.ai.embeddings` needs of a model."""

    @property
    def name(self) -> str:
        """Model name stored with every vector (``ai.patient_embeddings.model``)."""
        ...

    @property
    def dimension(self) -> int:
        """Number of dimensions of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``: a float32 array of shape ``(len(texts), dimension)``."""
        ...


class HashingEmbedder:
    """Deterministic offline embedder: hashed word and character n-grams, normalised.

    Features are hashed with CRC-32 (same result on every machine and process, unlike
    Python's ``hash``); the hash picks the dimension and one bit of it the sign, so
    collisions cancel out on average. A text with no word gives the zero vector.
    """

    def __init__(self, dimension: int = EMBEDDING_DIMENSIONS) -> None:
        if dimension < 1:
            raise ConfigurationError(
                f"an embedding needs at least one dimension, not {dimension}",
                hint="use the default of 384",
            )
        self._dimension = dimension

    @property
    def name(self) -> str:
        """``medz1-hashing-v1-<dimension>``."""
        return f"medz1-hashing-v1-{self._dimension}"

    @property
    def dimension(self) -> int:
        """Number of dimensions."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``, shape ``(len(texts), dimension)``, each of norm 1 (or 0)."""
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            hashes = np.fromiter(
                (zlib.crc32(f.encode("utf-8")) for f in features(text)), dtype=np.uint32
            )
            if hashes.size == 0:
                continue
            signs = np.where(hashes & np.uint32(1 << 31), -1.0, 1.0).astype(np.float32)
            np.add.at(out[row], (hashes % np.uint32(self._dimension)).astype(np.intp), signs)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


def features(text: str) -> list[str]:
    r"""The hashed features of a text: words, word pairs and character trigrams of words.

    Words are ``\\w+`` runs, lower-cased; trigrams are taken from ``<word>`` so a word's
    start and end count. Prefixes keep the three kinds apart.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    found = [f"w:{w}" for w in words]
    found += [f"b:{a} {b}" for a, b in pairwise(words)]
    for word in words:
        padded = f"<{word}>"
        found += [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
    return found


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a folder on disk (never downloaded).

    Needs the optional ``sentence-transformers`` package, imported only here.
    """

    def __init__(self, path: Path) -> None:
        try:
            module = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise ConfigurationError(
                "the sentence-transformers embedder needs the sentence-transformers package",
                hint="pip install sentence-transformers, or use MEDZ1_AI_EMBEDDER=hashing",
            ) from exc
        if not path.is_dir():
            raise ConfigurationError(
                f"no sentence-transformers model folder at {path}",
                hint="give the folder of a model saved on disk (medz1 downloads nothing)",
            )
        self._model: Any = module.SentenceTransformer(str(path), local_files_only=True)
        self._name = path.name
        self._dimension = int(self._model.get_sentence_embedding_dimension())

    @property
    def name(self) -> str:
        """The model folder's name."""
        return self._name

    @property
    def dimension(self) -> int:
        """The model's dimension."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Normalised vectors from the model."""
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


class HttpEmbedder:
    """An HTTP embedding endpoint: POST ``{"model", "input": [texts]}``, answer
    ``{"data": [{"embedding": [...]}, ...]}`` (the OpenAI-compatible shape).
    """

    def __init__(self, url: str, *, model: str, dimension: int, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                "the HTTP embedder needs an http:// or https:// URL",
                hint="set MEDZ1_AI_EMBEDDER=http:<model>@<url>",
            )
        self._url = url
        self._model = model
        self._dimension = dimension
        self._timeout = timeout

    @property
    def name(self) -> str:
        """The model name given."""
        return self._model

    @property
    def dimension(self) -> int:
        """The dimension given."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors from the endpoint, in the order of ``texts``.

        Raises:
            ServerError: The endpoint cannot be reached or answers something else (exit 3).
        """
        body = json.dumps({"model": self._model, "input": list(texts)}).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                payload = json.loads(answer.read())
            vectors = [item["embedding"] for item in payload["data"]]
            return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
            raise ServerError(
                f"the embedding endpoint failed: {type(exc).__name__}",
                hint="check that the endpoint named in MEDZ1_AI_EMBEDDER runs and answers "
                "in the OpenAI embeddings shape",
            ) from exc


def load_embedder(spec: str = "hashing") -> Embedder:
    """The embedder a specification names.

    ``hashing`` (default), ``sentence-transformers:<folder>`` or
    ``http:<model>@<url>`` (the endpoint must give 384-dimensional vectors to be stored).

    Raises:
        ConfigurationError: An unknown specification or a missing optional package (exit 2).
    """
    if spec == "hashing":
        return HashingEmbedder()
    kind, _, rest = spec.partition(":")
    if kind == "sentence-transformers" and rest:
        return SentenceTransformerEmbedder(Path(rest))
    if kind == "http" and "@" in rest:
        model, _, url = rest.partition("@")
        return HttpEmbedder(url, model=model, dimension=EMBEDDING_DIMENSIONS)
    raise ConfigurationError(
        f"unknown embedder {spec!r}",
        hint="use hashing, sentence-transformers:<model folder> or http:<model>@<url>",
    )


def check_vectors(vectors: object, *, count: int, dimension: int = EMBEDDING_DIMENSIONS) -> Vectors:
    """``vectors`` as float32 ``(count, dimension)``, or refuse them.

    Refuses (before anything is written) another count or dimension, NaN or infinite
    values, and zero vectors (cosine distance is undefined for them).

    Raises:
        DataError: naming what is wrong and the first bad row (exit 8).
    """
    try:
        array = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            "the embeddings are not an array of numbers", hint="give one vector per chunk"
        ) from exc
    if array.ndim != 2 or array.shape[0] != count:
        raise DataError(
            f"expected {count} vector(s), got an array of shape {array.shape}",
            hint="give exactly one vector per chunk",
        )
    if count and array.shape[1] != dimension:
        raise DataError(
            f"vectors have {array.shape[1]} dimensions, the table stores {dimension}",
            hint=f"use an embedder of dimension {dimension}; nothing was written",
        )
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise DataError(
            f"vector {int(np.argmax(bad)) + 1} holds NaN or infinite values",
            hint="fix the embedder's output; nothing was written",
        )
    single = np.finfo(np.float32).max
    big = (np.abs(array) > single).any(axis=1)
    if big.any():
        raise DataError(
            f"vector {int(np.argmax(big)) + 1} holds a value beyond single precision",
            hint="fix the embedder's output; nothing was written",
        )
    zero = ~array.any(axis=1)
    if zero.any():
        raise DataError(
            f"vector {int(np.argmax(zero)) + 1} is all zeros (no direction to compare)",
            hint="leave out chunks without text; nothing was written",
        )
    return array.astype(np.float32)
