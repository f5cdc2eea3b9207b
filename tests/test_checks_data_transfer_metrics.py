"""Fair checks of a1_data, a2_transfer and the a4_age metrics: valid choices pass, typical
mistakes fail with feedback that names the cause, and hidden feedback reveals no expected value.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from autograder.cells import check_table
from autograder.inkernel import run_checks
from course_lib import metrics, models, text
from course_lib.data import splits

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def results(assignment: str, name: str, function, which: str = "all") -> dict:
    return {
        r.name.split(": ", 1)[1]: r for r in run_checks(assignment, name, function, which=which)
    }


def failed_with(found: dict, title: str, hint: str) -> None:
    result = found[title]
    assert not result.passed, title
    assert hint in result.output, result.output


# --- topk_accuracy ---------------------------------------------------------------------------


def topk_idiom(output, target, topk=(1,)):
    top = output.topk(max(topk), dim=1).indices  # (N, maxk)
    hits = top.eq(target.view(-1, 1))
    return [hits[:, :k].any(dim=1).float().mean().item() for k in topk]


def topk_ties_for_target(output, target, topk=(1,)):
    above = (output > output.gather(1, target[:, None])).sum(1)
    return [(above < k).float().mean().item() for k in topk]


@pytest.mark.parametrize("function", [topk_idiom, topk_ties_for_target])
def test_any_tie_breaking_passes_every_topk_case(function):
    found = results("a2_transfer", "topk_accuracy", function)
    assert all(r.passed for r in found.values()), [r.output for r in found.values()]


def test_topk_mistakes_are_named():
    lowest = results(
        "a2_transfer", "topk_accuracy", lambda o, t, topk=(1,): topk_idiom(-o, t, topk)
    )
    failed_with(lowest, "top-1 and top-5 on random logits", "*lowest* scores")
    assert "expected a value in" in lowest["top-1 and top-5 on random logits"].output
    hidden = lowest["log-probabilities, 200 classes"]
    assert not hidden.passed and "*lowest*" in hidden.output
    assert "expected" not in hidden.output and "[0." not in hidden.output

    def percent(output, target, topk=(1,)):
        return [100 * v for v in topk_idiom(output, target, topk)]

    failed_with(results("a2_transfer", "topk_accuracy", percent), "ties at k=5", "percentage")

    def count(output, target, topk=(1,)):
        return [v * len(target) for v in topk_idiom(output, target, topk)]

    failed_with(results("a2_transfer", "topk_accuracy", count), "ties at k=5", "count of samples")

    def off_by_one(output, target, topk=(1,)):
        return topk_idiom(output, target, [min(k + 1, output.shape[1]) for k in topk])

    found = results("a2_transfer", "topk_accuracy", off_by_one)
    failed_with(found, "top-1 and top-5 on random logits", "off by one")


def test_public_table_keeps_the_checked_sentence_and_hidden_stays_numbered():
    def wrong(output, target, topk=(1,)):
        return [0.0] * 9

    public = run_checks("a2_transfer", "topk_accuracy", wrong, which="public")
    assert "Checked: One fraction per k" in check_table("topk_accuracy", public, hidden=False)
    hidden = run_checks("a2_transfer", "topk_accuracy", wrong, which="hidden")
    assert "Checked:" not in check_table("topk_accuracy", hidden, hidden=True)


# --- set_trainable ---------------------------------------------------------------------------


def trainable_counting_matches(model, prefixes, trainable):
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    matched = [p for n, p in model.named_parameters() if n.startswith(prefixes)]
    if not matched:
        raise ValueError(f"no parameter starts with {prefixes}")
    for param in matched:
        param.requires_grad_(trainable)
    return len(matched)


def trainable_without_error(model, prefixes, trainable):
    return models.set_trainable(model, prefixes, trainable) if prefixes != "decoder" else 0


def test_set_trainable_mistakes_are_named():
    found = results("a2_transfer", "set_trainable", trainable_counting_matches)
    title = "freezing twice: the second call changes nothing and returns 0"
    failed_with(found, title, "count only the tensors whose requires_grad actually changed")
    assert found["freeze the features"].passed
    found = results("a2_transfer", "set_trainable", trainable_without_error)
    failed_with(found, "a prefix matching nothing is an error", "must raise ValueError")


# --- build_vgg16_head ------------------------------------------------------------------------


def head_default_init(num_classes, *, in_features=25088, hidden=512, dropout=0.5):
    blocks = []
    for size in (in_features, hidden):
        blocks += [nn.Linear(size, hidden), nn.ReLU(), nn.BatchNorm1d(hidden), nn.Dropout(dropout)]
    return nn.Sequential(*blocks, nn.Linear(hidden, num_classes))


def test_default_init_keeps_the_structure_points():
    found = results("a2_transfer", "build_vgg16_head", head_default_init)
    assert found["layers and shapes"].passed and found["default in_features"].passed
    failed_with(found, "layers, shapes and He initialisation", "default initialisation")
    earned = sum(r.score for r in found.values())
    assert 0 < earned < sum(r.max_score for r in found.values())


# --- train_one_epoch -------------------------------------------------------------------------


def epoch_variant(*, train_mode=True, per_epoch=False, scaler_used=True, move=True, mean="samples"):
    def train_one_epoch(
        model, loader, optimizer, *, loss_fn, scheduler=None, device=None, scaler=None
    ):
        if train_mode:
            model.train()
        device = device or next(model.parameters()).device
        losses, correct, seen = [], 0, 0
        for images, labels in loader:
            if move:
                images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            use = scaler if scaler_used else None
            with torch.autocast(torch.device(device).type, enabled=use is not None):
                outputs = model(images)
                loss = loss_fn(outputs, labels)
            if use is None:
                loss.backward()
                optimizer.step()
            else:
                use.scale(loss).backward()
                use.step(optimizer)
                use.update()
            if scheduler is not None and not per_epoch:
                scheduler.step()
            losses.append((loss.item(), len(labels)))
            correct += (outputs.argmax(1) == labels).sum().item()
            seen += len(labels)
        if scheduler is not None and per_epoch:
            scheduler.step()
        if mean == "samples":
            loss = sum(value * n for value, n in losses) / seen
        else:
            loss = sum(value for value, _ in losses) / len(losses)
        return {"loss": loss, "top1": correct / seen}

    return train_one_epoch


def test_train_one_epoch_alternative_passes():
    found = results("a2_transfer", "train_one_epoch", epoch_variant())
    assert all(r.passed for r in found.values()), [r.output for r in found.values()]


@pytest.mark.parametrize(
    ("options", "title", "hint"),
    [
        ({"train_mode": False}, "one epoch with CyclicLR stepped per batch", "call model.train()"),
        (
            {"per_epoch": True},
            "one epoch with CyclicLR stepped per batch",
            "stepped 1 times over 5 batches",
        ),
        ({"mean": "batches"}, "loss and top-1 averaged over samples", "mean over batches"),
        ({"scaler_used": False}, "mixed precision with a GradScaler", "GradScaler made 0 updates"),
        (
            {"move": False},
            "log-probabilities with NLLLoss and Adam, device given",
            "move both the images and the labels",
        ),
    ],
)
def test_train_one_epoch_mistakes_are_named(options, title, hint):
    found = results("a2_transfer", "train_one_epoch", epoch_variant(**options))
    failed_with(found, title, hint)
    if options in ({"train_mode": False}, {"mean": "batches"}):  # partial credit by property
        assert found["metrics as floats, the scheduler stepped per batch"].passed


def test_hidden_value_failures_show_no_error_size():
    found = results("a2_transfer", "train_one_epoch", epoch_variant(train_mode=False))
    hidden = found["mixed precision with a GradScaler"]
    assert not hidden.passed and "error" not in hidden.output.split("Failed:")[1]


# --- a4: confusion_matrix, normalize_per_class, replace_last_linear --------------------------


def confusion_transposed(preds, targets, num_classes):
    return metrics.confusion_matrix(targets, preds, num_classes)


def test_confusion_matrix_transposed_is_named_and_keeps_the_shape_point():
    found = results("a4_age", "confusion_matrix", confusion_transposed)
    failed_with(found, "rows are the actual classes", "the matrix is transposed")
    assert found["shape, dtype and total count"].passed


def normalize_columns(matrix):
    matrix = matrix.double()
    return matrix / matrix.sum(dim=0, keepdim=True).clamp_min(1)


def normalize_nan(matrix):
    matrix = matrix.float()
    return matrix / matrix.sum(dim=1, keepdim=True)


def normalize_float32(matrix):
    matrix = matrix.to(torch.float32)
    return matrix / matrix.sum(dim=1, keepdim=True).clamp_min(1)


def test_normalize_per_class_accepts_float32_and_names_mistakes():
    found = results("a4_age", "normalize_per_class", normalize_float32)
    assert all(r.passed for r in found.values()), [r.output for r in found.values()]
    found = results("a4_age", "normalize_per_class", normalize_columns)
    failed_with(found, "rows sum to 1, empty rows stay 0", "are you normalising columns?")
    assert found["shape, floats in [0, 1]"].passed
    found = results("a4_age", "normalize_per_class", normalize_nan)
    failed_with(found, "rows sum to 1, empty rows stay 0", "must stay 0 (do not divide 0 by 0)")


def replace_without_type_check(model, num_classes, *, path="classifier.2"):
    parent, _, child = path.rpartition(".")
    old = model.get_submodule(path)
    features = getattr(old, "in_features", None) or old.normalized_shape[0]
    setattr(model.get_submodule(parent), child, nn.Linear(features, num_classes))
    return model


def test_replace_last_linear_must_raise_type_error():
    found = results("a4_age", "replace_last_linear", replace_without_type_check)
    failed_with(found, "a LayerNorm at the path is a TypeError", "raise TypeError")
    assert found["ConvNeXt head with 6 classes"].passed


# --- a1: mean_pool, cluster_classes ------------------------------------------------------------


def pool_plain_mean(last_hidden_state, attention_mask):
    return last_hidden_state.mean(dim=1)


def pool_float32(last_hidden_state, attention_mask):
    return text.mean_pool(last_hidden_state.float(), attention_mask)


def test_mean_pool_mistakes_are_named():
    found = results("a1_data", "mean_pool", pool_plain_mean)
    failed_with(found, "shape and dtype, padding left out", "padding tokens were averaged in")
    found = results("a1_data", "mean_pool", pool_float32)
    failed_with(found, "a row without tokens, boolean mask, float64", "expected dtype float64")


def cluster_silent(vectors, names, *, k=30, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return text.cluster_classes(vectors, names, k=k, seed=seed)


def cluster_not_renumbered(vectors, names, *, k=30, seed=0):
    from sklearn.cluster import KMeans

    k = min(k, len(names))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(np.asarray(vectors))
    clusters: dict[int, list[str]] = {}
    for label, name in zip(labels, names, strict=True):
        clusters.setdefault(int(label), []).append(name)
    return clusters


def test_cluster_classes_warning_and_numbering_are_checked():
    found = results("a1_data", "cluster_classes", cluster_silent)
    failed_with(found, "k above the number of names", "with a warning")
    found = results("a1_data", "cluster_classes", cluster_not_renumbered)
    failed_with(found, "every name once, numbered by first appearance", "renumber K-Means")


# --- a1: the data functions: property cases first, then causes named before the values --------


def maps_sorting(wnids, words):
    ordered = sorted(wnids)
    descriptions = {i: words[wnid] for i, wnid in enumerate(ordered)}
    return descriptions, {text.split(",")[0]: i for i, text in descriptions.items()}


def test_class_name_maps_sorting_the_sorted_wnids_passes():
    found = results("a1_data", "class_name_maps", maps_sorting)
    assert all(r.passed for r in found.values()), [r.output for r in found.values()]


def labels_line_text(annotations_path, class_to_idx):
    pairs = []
    with open(annotations_path) as file:
        for line in file:
            name, wnid = line.split("\t")[:2]
            if wnid not in class_to_idx:
                raise KeyError(f"unknown wnid in val_annotations.txt, line {line.strip()!r}")
            pairs.append((name, class_to_idx[wnid]))
    return pairs


def labels_no_line(annotations_path, class_to_idx):
    try:
        return labels_line_text(annotations_path, class_to_idx)
    except KeyError:
        raise KeyError(f"unknown wnid in {annotations_path}") from None


def test_load_val_labels_accepts_the_line_text_but_not_no_line():
    found = results("a1_data", "load_val_labels", labels_line_text)
    assert all(r.passed for r in found.values()), [r.output for r in found.values()]
    found = results("a1_data", "load_val_labels", labels_no_line)
    failed_with(found, "an unknown wnid names the file and line", "must name the line")


def pick_in_index_order(labels, n_per_class):
    taken: dict[int, int] = {}
    chosen = []
    for index, label in enumerate(int(v) for v in labels):
        if taken.get(label, 0) < n_per_class:
            taken[label] = taken.get(label, 0) + 1
            chosen.append(index)
    return chosen


def test_pick_per_class_order_is_named_and_keeps_the_property_point():
    found = results("a1_data", "pick_per_class", pick_in_index_order)
    failed_with(found, "first two of each class, classes ascending", "grouped by class")
    assert found["distinct valid indices, every class picked"].passed


def split_unseeded(n, fractions=(0.95, 0.05), *, seed=42):
    return splits.random_split_indices(n, fractions, seed=seed + 1)


def test_random_split_order_is_named_and_keeps_the_property_point():
    found = results("a1_data", "random_split_indices", split_unseeded)
    failed_with(found, "95/5 split of 100 with seed 42", "torch.randperm(n, generator=")
    assert found["part sizes, every index once"].passed
    hidden = found["remainders of three fractions"]
    assert not hidden.passed and "[" not in hidden.output.split("Failed:")[1]


def test_empty_functions_get_no_points():
    def empty(*args, **kwargs):
        raise NotImplementedError

    for name in ("class_name_maps", "load_val_labels", "pick_per_class", "random_split_indices"):
        assert sum(r.score for r in results("a1_data", name, empty).values()) == 0, name


def pool_by_t(last_hidden_state, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(dim=1) / last_hidden_state.shape[1]


def test_mean_pool_divided_by_t_is_named():
    found = results("a1_data", "mean_pool", pool_by_t)
    failed_with(found, "padding tokens do not count", "not by T")
    assert found["shape and dtype, padding left out"].passed


# --- a2: heads by position, startswith, step order, zeroed gradients --------------------------


def head_named(num_classes, *, in_features=25088, hidden=512, dropout=0.5):
    from collections import OrderedDict

    head = models.build_vgg16_head(
        num_classes, in_features=in_features, hidden=hidden, dropout=dropout
    )
    return nn.Sequential(OrderedDict((f"layer{i}", m) for i, m in enumerate(head)))


def test_head_layers_are_compared_by_position():
    found = results("a2_transfer", "build_vgg16_head", head_named)
    assert all(r.passed for r in found.values()), [r.output for r in found.values()]


def trainable_substring(model, prefixes, trainable):
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    changed = 0
    for name, param in model.named_parameters():
        if any(p in name for p in prefixes) and param.requires_grad != trainable:
            param.requires_grad_(trainable)
            changed += 1
    return changed


def test_set_trainable_substring_match_is_named():
    found = results("a2_transfer", "set_trainable", trainable_substring)
    failed_with(found, "a prefix inside other names is no match", "str.startswith, not")


def test_train_one_epoch_step_order_and_zero_grad_are_named():
    def no_zero_grad(
        model, loader, optimizer, *, loss_fn, scheduler=None, device=None, scaler=None
    ):
        optimizer.zero_grad = lambda set_to_none=True: None
        return epoch_variant()(
            model,
            loader,
            optimizer,
            loss_fn=loss_fn,
            scheduler=scheduler,
            device=device,
            scaler=scaler,
        )

    found = results("a2_transfer", "train_one_epoch", no_zero_grad)
    failed_with(found, "loss and top-1 averaged over samples", "call optimizer.zero_grad()")

    def scheduler_first(
        model, loader, optimizer, *, loss_fn, scheduler=None, device=None, scaler=None
    ):
        step, scheduler_step = optimizer.step, scheduler.step
        scheduler.step = lambda: None  # stepped inside optimizer.step instead, before it

        def late_step(*args, **kwargs):
            scheduler_step()
            return step(*args, **kwargs)

        optimizer.step = late_step
        return epoch_variant()(
            model,
            loader,
            optimizer,
            loss_fn=loss_fn,
            scheduler=scheduler,
            device=device,
            scaler=scaler,
        )

    found = results("a2_transfer", "train_one_epoch", scheduler_first)
    failed_with(
        found, "one epoch with CyclicLR stepped per batch", "optimizer before the scheduler"
    )
