"""Top-k accuracy, confusion matrix and per-class normalisation against torchmetrics and
scikit-learn, with explicit tests of how ties count."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
)

from course_lib.metrics import (
    accuracy_from_confusion,
    confusion_matrix,
    normalize_per_class,
    topk_accuracy,
)


def random_case(seed: int, n: int = 200, num_classes: int = 7):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=generator)  # continuous: no ties
    targets = torch.randint(0, num_classes, (n,), generator=generator)
    return logits, targets


@pytest.mark.filterwarnings("ignore:'k' .* will result in a perfect score")
@pytest.mark.parametrize("seed", range(3))
def test_topk_matches_torchmetrics_and_sklearn_without_ties(seed):
    logits, targets = random_case(seed)
    ks = (1, 2, 5, 7)  # 7 = num_classes
    ours = topk_accuracy(logits, targets, topk=ks)
    for k, value in zip(ks, ours, strict=True):
        expected = multiclass_accuracy(logits, targets, num_classes=7, top_k=k, average="micro")
        torch.testing.assert_close(torch.tensor(value), expected)
        labels = np.arange(7)
        reference = sklearn.metrics.top_k_accuracy_score(targets, logits, k=k, labels=labels)
        assert value == pytest.approx(reference, abs=1e-7)
    assert ours[-1] == 1.0  # k = num_classes always contains the target


def test_logits_and_log_probabilities_agree():
    logits, targets = random_case(5)
    ks = (1, 3)
    from_logits = topk_accuracy(logits, targets, topk=ks)
    assert topk_accuracy(torch.log_softmax(logits, dim=1), targets, topk=ks) == from_logits
    assert topk_accuracy(torch.softmax(logits, dim=1), targets, topk=ks) == from_logits


def test_matches_article_accuracy_function_without_ties():
    logits, targets = random_case(6)
    maxk = 5
    _, pred = logits.topk(maxk, dim=1)  # article 001 (pytorch/examples ImageNet accuracy)
    correct = pred.t() == targets.view(1, -1)
    expected = [correct[:k].reshape(-1).float().sum().item() / len(targets) for k in (1, 5)]
    assert topk_accuracy(logits, targets, topk=(1, 5)) == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore:'k' .* will result in a perfect score")
def test_ties_agree_with_sklearn_when_target_is_lowest_tied_index():
    # Integer scores make many ties. scikit-learn ranks the higher index first among equal
    # scores, so it counts a tie against the target exactly when the target has the lowest
    # index of its tie group: choose targets that way, where both definitions agree.
    generator = torch.Generator().manual_seed(7)
    scores = torch.randint(0, 3, (300, 6), generator=generator).float()
    chosen = torch.randint(0, 6, (300,), generator=generator)
    target_score = scores.gather(1, chosen.view(-1, 1))
    targets = (scores == target_score).float().argmax(dim=1)  # lowest index with that score
    for k in (1, 2, 4, 6):
        expected = sklearn.metrics.top_k_accuracy_score(targets, scores, k=k, labels=range(6))
        assert topk_accuracy(scores, targets, topk=(k,))[0] == pytest.approx(expected)


def test_ties_count_against_the_target():
    output = torch.tensor(
        [
            [1.0, 1.0, 1.0],  # all tied: target never in the top 1 or 2, always in top 3
            [3.0, 2.0, 2.0],  # target 1 tied with class 2 for second place
            [0.0, 5.0, 5.0],  # target 2 tied with class 1 for first place
            [2.0, 1.0, 0.0],  # no tie: target 0 is first
        ]
    )
    targets = torch.tensor([0, 1, 2, 0])
    assert topk_accuracy(output, targets, topk=(1, 2, 3)) == [0.25, 0.5, 1.0]


def test_nan_scores_never_help():
    output = torch.tensor([[float("nan"), 0.0, 1.0], [2.0, float("nan"), 0.0]])
    targets = torch.tensor([0, 0])  # sample 0: NaN target score; sample 1: a NaN rival
    assert topk_accuracy(output, targets, topk=(1, 2, 3)) == [0.0, 0.5, 1.0]


def test_topk_bad_input():
    logits, targets = random_case(0, n=4, num_classes=3)
    with pytest.raises(ValueError, match=r"every k must be in 1\.\.3"):
        topk_accuracy(logits, targets, topk=(1, 5))
    with pytest.raises(ValueError, match="expected output"):
        topk_accuracy(logits[0], targets)
    with pytest.raises(ValueError, match="expected output"):
        topk_accuracy(logits, targets[:3])


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matrix_matches_sklearn_and_torchmetrics(seed):
    generator = torch.Generator().manual_seed(seed)
    num_classes = 5
    targets = torch.randint(0, num_classes - 1, (120,), generator=generator)  # class 4 absent
    preds = torch.randint(0, num_classes, (120,), generator=generator)
    ours = confusion_matrix(preds, targets, num_classes)
    expected = sklearn.metrics.confusion_matrix(targets, preds, labels=range(num_classes))
    assert ours.dtype == torch.int64
    torch.testing.assert_close(ours, torch.from_numpy(expected).long())
    torch.testing.assert_close(ours, multiclass_confusion_matrix(preds, targets, num_classes))
    assert accuracy_from_confusion(ours) == pytest.approx((preds == targets).float().mean().item())


def test_confusion_rows_are_actual_classes():
    matrix = confusion_matrix(torch.tensor([1, 1, 2]), torch.tensor([0, 0, 0]), 3)
    assert matrix.tolist() == [[0, 2, 1], [0, 0, 0], [0, 0, 0]]


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="predictions but"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match=r"targets must lie in 0\.\.1"):
        confusion_matrix(torch.tensor([0]), torch.tensor([2]), 2)


@pytest.mark.filterwarnings("ignore:.*NaN values found in confusion matrix")
def test_normalize_per_class_matches_sklearn_with_empty_rows():
    generator = torch.Generator().manual_seed(3)
    targets = torch.randint(0, 3, (60,), generator=generator)  # classes 3 and 4 absent
    preds = torch.randint(0, 5, (60,), generator=generator)
    counts = confusion_matrix(preds, targets, 5)
    ours = normalize_per_class(counts)
    expected = sklearn.metrics.confusion_matrix(targets, preds, labels=range(5), normalize="true")
    torch.testing.assert_close(ours, torch.from_numpy(expected).float())
    torch.testing.assert_close(ours[:3].sum(dim=1), torch.ones(3))
    assert ours[3:].abs().sum() == 0
    tm = multiclass_confusion_matrix(preds, targets, 5, normalize="true")
    torch.testing.assert_close(ours, tm)


def test_normalize_per_class_keeps_float_precision():
    matrix = torch.tensor([[0.5, 0.25], [0.0, 0.0]], dtype=torch.float64)
    out = normalize_per_class(matrix)
    assert out.dtype == torch.float64
    assert out.tolist() == [[2 / 3, 1 / 3], [0.0, 0.0]]
