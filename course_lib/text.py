"""Sentence vectors of class descriptions and K-Means clusters of classes (article 000).

Article 000 turns each Tiny ImageNet class description into a vector by mean-pooling BERT's
last hidden state over the tokens the attention mask keeps, maps the vectors with t-SNE and
groups the classes with K-Means. BERT needs pretrained weights, so the default encoder here
is TF-IDF over character n-grams, which needs none and runs offline.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from course_lib.utils import progress

log = logging.getLogger(__name__)

#: The encoder article 000 used; load it with :func:`load_bert` once it is in the local cache.
DEFAULT_BERT = "google-bert/bert-base-uncased"


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors where the mask is 1: ``(B, T, H), (B, T) -> (B, H)``.

    Padding tokens (mask 0) do not count; a row with no tokens at all gives zeros. The mask may
    be integer or boolean; the result has the dtype of ``last_hidden_state``.
    """
    ### BEGIN SOLUTION a1_data
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)  # (B, T, 1)
    summed = (last_hidden_state * mask).sum(dim=1)  # (B, H)
    counts = mask.sum(dim=1).clamp_min(1)  # (B, 1), never 0
    return summed / counts
    ### END SOLUTION


def short_name(description: str) -> str:
    """The first comma-separated name: ``"goldfish, Carassius auratus" -> "goldfish"``."""
    return description.split(",")[0].strip()


def tfidf_vectors(
    texts: Sequence[str], *, analyzer: str = "char_wb", ngram_range: tuple[int, int] = (3, 5)
) -> np.ndarray:
    """TF-IDF vectors of ``texts`` as a dense float32 array ``(N, V)``, rows of unit length.

    Character n-grams inside words make "retriever" and "terrier" share features that
    whole-word counts would miss on such short texts.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    _check_texts(texts)
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range)
    return vectorizer.fit_transform(list(texts)).toarray().astype(np.float32)


def load_bert(name_or_path: str = DEFAULT_BERT) -> tuple[Any, torch.nn.Module]:
    """Tokenizer and encoder from a local folder or the Hugging Face cache; never downloads."""
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as error:
        raise ImportError(
            "BERT sentence vectors need the 'transformers' package: pip install 'course-lib[text]'"
            ", or use encoder='tfidf'"
        ) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        model = AutoModel.from_pretrained(name_or_path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise FileNotFoundError(
            f"could not load the text encoder {name_or_path!r} offline: it is neither a local "
            "folder nor in the Hugging Face cache (~/.cache/huggingface/hub, or $HF_HOME/hub). "
            f"On a machine with network run `hf download {name_or_path}` and copy the cache "
            "here, pass the folder it was saved to, or use encoder='tfidf'"
        ) from error
    return tokenizer, model.eval()


def bert_vectors(
    texts: Sequence[str],
    *,
    tokenizer: Any,
    model: torch.nn.Module,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    pool: Callable[[Tensor, Tensor], Tensor] = mean_pool,
) -> np.ndarray:
    """Sentence vectors ``(N, H)``: ``pool`` over the encoder's last hidden state, per batch.

    Batches are padded to their longest text, so the attention mask decides which positions
    are averaged (article 000 encoded one text at a time and had no padding to mask).
    """
    _check_texts(texts)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    vectors = []
    with torch.no_grad():
        for start in progress(range(0, len(texts), batch_size), desc="sentence vectors"):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                return_tensors="pt",
            ).to(device)
            hidden = model(**batch).last_hidden_state  # (B, T, H)
            vectors.append(pool(hidden, batch["attention_mask"]).float().cpu())  # (B, H)
    return torch.cat(vectors).numpy()


def sentence_vectors(
    texts: Sequence[str],
    *,
    encoder: str | tuple[Any, torch.nn.Module] = "tfidf",
    batch_size: int = 32,
    device: torch.device | str | None = None,
    pool: Callable[[Tensor, Tensor], Tensor] = mean_pool,
) -> np.ndarray:
    """Vectors ``(N, D)`` of ``texts`` from the chosen encoder.

    ``encoder`` is ``"tfidf"`` (offline, no weights), the name or folder of a BERT-family
    model (loaded offline by :func:`load_bert`), or a ready ``(tokenizer, model)`` pair.
    """
    if isinstance(encoder, str) and encoder == "tfidf":
        return tfidf_vectors(texts)
    tokenizer, model = load_bert(encoder) if isinstance(encoder, str) else encoder
    return bert_vectors(
        texts, tokenizer=tokenizer, model=model, batch_size=batch_size, device=device, pool=pool
    )


def cluster_classes(
    vectors: np.ndarray | Tensor, names: Sequence[str], *, k: int = 30, seed: int = 0
) -> dict[int, list[str]]:
    """K-Means clusters of ``names`` by their ``vectors`` ``(N, D)``: cluster -> names in it.

    Clusters are numbered 0, 1, ... in the order their first name appears in ``names``, and
    names keep their order inside a cluster. ``k`` above the number of names is lowered to it
    with a warning (``warnings.warn``).
    """
    ### BEGIN SOLUTION a1_data
    from sklearn.cluster import KMeans

    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) != len(names):
        raise ValueError(f"got {len(vectors)} vectors for {len(names)} names; give one each")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > len(names):
        warnings.warn(f"k={k} exceeds the {len(names)} names; using k={len(names)}", stacklevel=2)
        k = len(names)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)
    new_ids: dict[int, int] = {}  # K-Means label -> number in order of first appearance
    clusters: dict[int, list[str]] = {}
    for label, name in zip(labels, names, strict=True):
        cluster = new_ids.setdefault(int(label), len(new_ids))
        clusters.setdefault(cluster, []).append(name)
    return clusters
    ### END SOLUTION


def format_clusters(clusters: dict[int, list[str]]) -> str:
    """One line per cluster: ``"3: goldfish, jellyfish"``."""
    return "\n".join(f"{cluster}: {', '.join(names)}" for cluster, names in clusters.items())


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    if len(texts) == 0:
        raise ValueError("texts is empty; give at least one text to encode")
