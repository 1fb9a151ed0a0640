"""The offline embedder and the choice of embedder (no database)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from medz1.ai.embedder import HashingEmbedder, load_embedder
from medz1.errors import ConfigurationError


def test_hashing_vectors_are_deterministic_and_of_norm_one() -> None:
    first = HashingEmbedder().embed(["Penicillin allergy: hives", "BMP potassium 5.9 H"])
    again = HashingEmbedder().embed(["Penicillin allergy: hives", "BMP potassium 5.9 H"])
    assert first.shape == (2, 384)
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0)


def test_texts_sharing_words_are_nearer_than_unrelated_ones() -> None:
    query, related, unrelated = HashingEmbedder().embed(
        ["penicillin rash", "Allergy: PENICILLIN. Reactions: RASH, HIVES", "Lab TSH 1.10 mIU/L"]
    )
    assert float(query @ related) > float(query @ unrelated)


def test_a_text_without_words_gives_the_zero_vector() -> None:
    assert not HashingEmbedder().embed(["... !!"]).any()


@pytest.mark.parametrize(
    "spec", ["", "word2vec", "http:model-without-url", "sentence-transformers:"]
)
def test_an_unknown_embedder_is_a_configuration_error(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        load_embedder(spec)


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed here",
)
def test_the_sentence_transformers_embedder_without_its_package_says_what_to_install() -> None:
    with pytest.raises(ConfigurationError, match="pip install sentence-transformers"):
        load_embedder("sentence-transformers:/nonexistent/model")
