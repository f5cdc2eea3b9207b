"""Class-description vectors (mean-pooled tiny BERT, TF-IDF) and K-Means clusters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from torch.testing import assert_close

from course_lib.text import (
    cluster_classes,
    format_clusters,
    load_bert,
    mean_pool,
    sentence_vectors,
    short_name,
    tfidf_vectors,
)

transformers = pytest.importorskip("transformers", reason="the 'text' extra is not installed")

DESCRIPTIONS = [
    "goldfish, Carassius auratus",
    "tabby, tabby cat",
    "Egyptian cat",
    "golden retriever",
    "Labrador retriever",
    "red fox, Vulpes vulpes",
]
VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] , gold ##fish ##en tabby cat egyptian retriever red fox"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> tuple:
    """A random 2-layer BERT and a WordPiece tokenizer over a 15-token vocabulary."""
    vocab_file = tmp_path_factory.mktemp("bert") / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB.split()) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab=str(vocab_file))
    config = transformers.BertConfig(
        vocab_size=len(VOCAB.split()),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    return tokenizer, transformers.BertModel(config).eval()


def test_mean_pool_matches_a_per_sample_loop():
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(5, 7, 4, generator=generator)
    lengths = [7, 1, 3, 0, 5]
    mask = torch.zeros(5, 7, dtype=torch.long)
    for i, length in enumerate(lengths):
        mask[i, :length] = 1
    expected = torch.stack(
        [hidden[i, :n].mean(dim=0) if n else torch.zeros(4) for i, n in enumerate(lengths)]
    )
    assert_close(mean_pool(hidden, mask), expected)


def test_mean_pool_ignores_padding_values():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])
    changed = hidden.clone()
    changed[0, 2:] = 1e6
    changed[1, 3] = -1e6
    assert_close(mean_pool(hidden, mask), mean_pool(changed, mask))


def test_bert_vectors_do_not_depend_on_batch_padding(tiny_bert):
    tokenizer, _ = tiny_bert
    padded = tokenizer(DESCRIPTIONS[:4], padding=True, return_tensors="pt")
    assert (padded["attention_mask"] == 0).any()  # the batches below really contain padding
    one_by_one = sentence_vectors(DESCRIPTIONS, encoder=tiny_bert, batch_size=1)
    batched = sentence_vectors(DESCRIPTIONS, encoder=tiny_bert, batch_size=4)
    assert one_by_one.shape == (len(DESCRIPTIONS), 16)
    assert np.isfinite(batched).all()
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-4, atol=1e-5)


def test_bert_vectors_pool_can_be_swapped(tiny_bert):
    def first_token(hidden, mask):
        return hidden[:, 0]

    cls = sentence_vectors(DESCRIPTIONS[:2], encoder=tiny_bert, pool=first_token)
    tokenizer, model = tiny_bert
    with torch.no_grad():
        expected = model(**tokenizer(DESCRIPTIONS[:2], padding=True, return_tensors="pt"))
    np.testing.assert_allclose(cls, expected.last_hidden_state[:, 0].numpy(), rtol=1e-5)


def test_load_bert_from_a_local_folder(tiny_bert, tmp_path):
    tokenizer, model = tiny_bert
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    vectors = sentence_vectors(DESCRIPTIONS, encoder=str(tmp_path))
    np.testing.assert_allclose(
        vectors, sentence_vectors(DESCRIPTIONS, encoder=tiny_bert), atol=1e-5
    )


def test_load_bert_offline_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(FileNotFoundError, match="no-such-model.*tfidf"):
        load_bert(missing)


def test_tfidf_vectors_are_dense_unit_float32():
    vectors = tfidf_vectors(DESCRIPTIONS)
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
    assert vectors.shape[0] == len(DESCRIPTIONS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[3, 4] > similarity[3, 5]  # the two retrievers are closer than a fox
    np.testing.assert_array_equal(sentence_vectors(DESCRIPTIONS), vectors)
    with pytest.raises(ValueError, match="empty"):
        tfidf_vectors([])
    with pytest.raises(TypeError, match="one string"):
        tfidf_vectors("goldfish")


def blobs(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = np.eye(len(sizes)) * 10
    groups = [centres[i] + rng.normal(scale=0.1, size=(n, len(sizes))) for i, n in enumerate(sizes)]
    order = rng.permutation(sum(sizes))
    vectors = np.concatenate(groups)[order]
    names = [f"c{i}_{j}" for i, n in enumerate(sizes) for j in range(n)]
    return vectors, [names[i] for i in order]


def test_cluster_classes_finds_separated_groups_numbered_by_first_appearance():
    vectors, names = blobs([3, 5, 4])
    clusters = cluster_classes(vectors, names, k=3)
    assert sorted(sorted(group) for group in clusters.values()) == sorted(
        sorted(n for n in names if n.startswith(prefix)) for prefix in ("c0", "c1", "c2")
    )
    assert list(clusters) == [0, 1, 2]
    first_seen = [min(names.index(n) for n in clusters[c]) for c in clusters]
    assert first_seen == sorted(first_seen) and first_seen[0] == 0
    for group in clusters.values():  # names keep their input order inside a cluster
        assert group == sorted(group, key=names.index)


def test_cluster_classes_is_a_deterministic_partition_agreeing_with_sklearn():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 6))
    names = [f"class{i}" for i in range(40)]
    clusters = cluster_classes(vectors, names, k=7, seed=3)
    assert clusters == cluster_classes(vectors, names, k=7, seed=3)
    assert sorted(n for group in clusters.values() for n in group) == sorted(names)
    assert all(clusters.values()) and all(isinstance(c, int) for c in clusters)
    labels = KMeans(n_clusters=7, n_init=10, random_state=3).fit_predict(vectors)
    expected = {frozenset(np.array(names)[labels == c]) for c in set(labels)}
    assert {frozenset(group) for group in clusters.values()} == expected


def test_cluster_classes_clips_k_and_checks_lengths():
    vectors, names = blobs([2, 1])
    with pytest.warns(UserWarning, match="k=30 exceeds the 3 names"):
        clusters = cluster_classes(vectors, names)
    assert sum(len(group) for group in clusters.values()) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cluster_classes(vectors, names, k=2)
    with pytest.raises(ValueError, match="2 vectors for 3 names"):
        cluster_classes(vectors[:2], names)
    with pytest.raises(ValueError, match="at least 1"):
        cluster_classes(vectors, names, k=0)


def test_short_name_and_listing():
    assert short_name("goldfish, Carassius auratus") == "goldfish"
    assert format_clusters({0: ["a", "b"], 1: ["c"]}) == "0: a, b\n1: c"
