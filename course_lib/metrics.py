"""Top-k accuracy, the confusion matrix and its per-class normalisation.

Ties in top-k: a class scoring exactly as high as the target counts *against* it. The target is
in the top k when fewer than k other classes score at least as high. This makes the result
independent of how ``torch.topk`` orders equal scores, and a constant output (a dead network)
never looks accurate. Real network outputs almost never tie, so on them this is the usual
top-k accuracy; scikit-learn's ``top_k_accuracy_score`` agrees with it whenever the target is
the lowest-indexed class among those tied with it (it ranks higher indices first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def topk_accuracy(output: Tensor, target: Tensor, topk: Sequence[int] = (1,)) -> list[float]:
    """Fraction of samples whose target is among the k highest scores, for each k.

    ``output`` (N, C) holds logits, probabilities or log-probabilities (any increasing
    transform of them gives the same result); ``target`` (N,) class indices. Returns one
    Python float in [0, 1] per k, in the order of ``topk``. Classes scoring exactly as high as
    the target may be ranked before or after it (``output.topk(k)`` breaks such ties its own
    way): any tie-breaking is accepted.
    """
    ### BEGIN SOLUTION a2_transfer
    if output.ndim != 2 or target.shape != output.shape[:1]:
        raise ValueError(
            f"expected output (N, C) and target (N,), got {tuple(output.shape)} "
            f"and {tuple(target.shape)}"
        )
    if not all(1 <= k <= output.shape[1] for k in topk):
        raise ValueError(f"every k must be in 1..{output.shape[1]} (the classes), got {topk}")
    target_score = output.gather(1, target.view(-1, 1).long())  # (N, 1)
    # Classes scoring at least as high as the target, the target itself excluded. "not less"
    # rather than ">=": a NaN score compares False to everything and then counts as a rival.
    rivals = (~(output < target_score)).sum(dim=1) - 1  # (N,)
    return [(rivals < k).float().mean().item() for k in topk]
    ### END SOLUTION


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts (C, C) int64: entry ``[actual, predicted]``, so each row is one actual class.

    ``preds`` and ``targets`` (N,) hold class indices in ``0 .. num_classes - 1``; a class may
    have no samples at all (its row and column are then 0).
    """
    ### BEGIN SOLUTION a4_age
    preds, targets = preds.reshape(-1).long(), targets.reshape(-1).long()
    if preds.shape != targets.shape:
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
    for name, values in (("preds", preds), ("targets", targets)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}")
    pairs = targets * num_classes + preds  # one bin per (actual, predicted) pair
    counts = torch.bincount(pairs, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)
    ### END SOLUTION


def normalize_per_class(matrix: Tensor) -> Tensor:
    """Divide each row (one actual class) by its sum so rows sum to 1; empty rows stay 0.

    Returns floats (float32 or float64) of the matrix's shape, never NaN.
    """
    ### BEGIN SOLUTION a4_age
    matrix = matrix if matrix.is_floating_point() else matrix.float()
    sums = matrix.sum(dim=1, keepdim=True)  # (C, 1)
    safe = torch.where(sums == 0, torch.ones_like(sums), sums)
    return matrix / safe
    ### END SOLUTION


def accuracy_from_confusion(matrix: Tensor) -> float:
    """Overall accuracy: the diagonal over the total (0 for an empty matrix)."""
    total = matrix.sum().item()
    return matrix.diagonal().sum().item() / total if total else 0.0
