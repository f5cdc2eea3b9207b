"""Checks of a3_features, a5_explain_compress and the CACD functions of a4_age: the references
pass, other correct idioms pass, and each typical mistake fails with a message naming it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.inkernel import run_checks
from autograder.spec import load_checks
from course_lib import explain, features, tt
from course_lib.data import cacd, splits

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MINE = {
    "a3_features": [
        "extract_features",
        "cosine_similarity_matrix",
        "most_similar",
        "canvas_positions",
    ],
    "a5_explain_compress": ["gradcam", "tt_svd", "tt_matrix_forward"],
    "a4_age": ["load_cacd_meta", "age_group", "select_per_group", "stratified_split_indices"],
}


def results(assignment, name, function, which="all"):
    return {
        r.name.split(": ", 1)[1]: r for r in run_checks(assignment, name, function, which=which)
    }


@pytest.mark.parametrize(
    ("assignment", "name"), [(a, n) for a, names in MINE.items() for n in names]
)
def test_reference_passes_every_case_and_property_cases_exist(assignment, name):
    checks = load_checks(assignment)
    got = results(assignment, name, checks.reference(name))
    assert all(r.passed for r in got.values()), {t: r.output for t, r in got.items()}
    public = [c for c in checks.cases if c.function == name and not c.hidden]
    assert any(not c.reference for c in public), "a public property case: partial credit"
    assert all(r.output.startswith("Checked: ") for r in got.values())


# --- correct code in other idioms ----------------------------------------------------------


def gradcam_as_the_notebook_says(model, target_layer, images, *, targets=None):
    layer = explain.find_layer(model, target_layer)
    saved = {}

    def hook(module, inputs, output):
        saved["a"] = output.detach().requires_grad_(True)
        return saved["a"]

    handle = layer.register_forward_hook(hook)
    try:
        with explain.eval_mode(model):
            outputs = model(images)
    finally:
        handle.remove()
    targets = explain.check_targets(targets, outputs)
    (grads,) = torch.autograd.grad(outputs.gather(1, targets[:, None]).sum(), saved["a"])
    cams = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * saved["a"].detach()).sum(dim=1))
    cams = F.interpolate(
        explain.normalize_cams(cams)[:, None],
        size=images.shape[-2:],
        mode="bilinear",
        align_corners=False,
    )
    return explain.normalize_cams(cams[:, 0])


def canvas_floor(coords, *, canvas_size, thumb_size):
    x = np.asarray(coords, dtype=float)
    free = np.subtract(canvas_size, thumb_size)
    span = np.ptp(x, axis=0)
    unit = np.where(span > 0, (x - x.min(0)) / np.where(span > 0, span, 1), 0.5)
    unit[:, 1] = 1 - unit[:, 1]
    return [(int(a), int(b)) for a, b in unit * free]  # truncation instead of rounding


def cosine_float64(x):
    x = torch.as_tensor(x, dtype=torch.float64)
    unit = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


@pytest.mark.parametrize(
    ("assignment", "name", "function"),
    [
        ("a5_explain_compress", "gradcam", gradcam_as_the_notebook_says),
        ("a3_features", "canvas_positions", canvas_floor),
        ("a3_features", "cosine_similarity_matrix", cosine_float64),
    ],
)
def test_other_correct_idioms_get_full_marks(assignment, name, function):
    got = results(assignment, name, function)
    assert all(r.passed for r in got.values()), {t: r.output for t, r in got.items()}


# --- typical mistakes ----------------------------------------------------------------------


def features_no_eval(model, loader, *, layer=None, device=None):
    seen = []
    target = features.get_layer(model, layer) if layer else model
    handle = target.register_forward_hook(lambda m, i, o: seen.append(o.detach().flatten(1)))
    try:
        with torch.no_grad():
            labels = [targets for images, targets in loader if model(images) is not None]
    finally:
        handle.remove()
    return torch.cat(seen), torch.cat(labels)


def features_not_flattened(model, loader, *, layer=None, device=None):
    was = model.training
    seen = []
    handle = (
        features.get_layer(model, layer).register_forward_hook(
            lambda m, i, o: seen.append(o.detach())
        )
        if layer
        else None
    )
    model.eval()
    try:
        labels = []
        with torch.no_grad():
            for images, targets in loader:
                output = model(images)
                seen.append(output) if handle is None else None
                labels.append(targets)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was)
    return torch.cat(seen), torch.cat(labels)


def features_no_finally(model, loader, *, layer=None, device=None):
    handle = features.get_layer(model, layer).register_forward_hook(lambda m, i, o: None)
    result = features.extract_features(model, loader)  # fails with the loader: no clean-up
    handle.remove()
    return result


def cosine_unnormalised(x):
    return x.float() @ x.float().T


def cosine_columns(x):
    unit = x / x.norm(dim=0, keepdim=True)
    return unit @ unit.T


def cosine_nan(x):
    unit = x / x.norm(dim=1, keepdim=True)
    return unit @ unit.T


def similar_top_k_then_drop(similarity, index, k):
    order = torch.sort(similarity[index], descending=True, stable=True).indices[:k]
    order = order[order != index]
    return order.tolist(), similarity[index][order].tolist()


def similar_skip_first(similarity, index, k):
    order = torch.argsort(similarity[index], descending=True, stable=True)[1 : k + 1]
    return order.tolist(), similarity[index][order].tolist()


def similar_unstable(similarity, index, k):
    row = similarity[index].tolist()
    order = sorted((i for i in range(len(row)) if i != index), key=lambda i: (-row[i], -i))[:k]
    return order, [row[i] for i in order]  # ties in reverse index order


def canvas_not_flipped(coords, *, canvas_size, thumb_size):
    x = np.asarray(coords, dtype=float)
    unit = (x - x.min(0)) / np.ptp(x, axis=0)
    return [(int(round(a)), int(round(b))) for a, b in unit * np.subtract(canvas_size, thumb_size)]


def canvas_swapped_sizes(coords, *, canvas_size, thumb_size):
    return features.canvas_positions(
        coords, canvas_size=canvas_size[::-1], thumb_size=thumb_size[::-1]
    )


def canvas_zero_span(coords, *, canvas_size, thumb_size):
    x = np.asarray(coords, dtype=float)
    span = np.ptp(x, axis=0)
    unit = (x - x.min(0)) / np.where(span > 0, span, 1.0)  # a flat axis goes to 0, not 0.5
    unit[:, 1] = 1 - unit[:, 1]
    return [(int(a), int(b)) for a, b in unit * np.subtract(canvas_size, thumb_size)]


def _cam(model, target_layer, images, *, targets=None, relu=True, mode="bilinear", train=False):
    layer = explain.find_layer(model, target_layer)
    saved = {}

    def hook(module, inputs, output):
        saved["a"] = output.detach().requires_grad_(True)
        return saved["a"]

    handle = layer.register_forward_hook(hook)
    if not train:
        model.eval()
    outputs = model(images)
    handle.remove()
    targets = explain.check_targets(targets, outputs)
    (grads,) = torch.autograd.grad(outputs.gather(1, targets[:, None]).sum(), saved["a"])
    cams = (grads.mean(dim=(2, 3), keepdim=True) * saved["a"].detach()).sum(dim=1)
    cams = explain.normalize_cams(torch.relu(cams) if relu else cams)
    cams = F.interpolate(cams[:, None], size=images.shape[-2:], mode=mode)
    return explain.normalize_cams(cams[:, 0])


def cam_no_relu(model, target_layer, images, *, targets=None):
    with explain.eval_mode(model):
        return _cam(model, target_layer, images, targets=targets, relu=False)


def cam_nearest(model, target_layer, images, *, targets=None):
    with explain.eval_mode(model):
        return _cam(model, target_layer, images, targets=targets, mode="nearest")


def cam_not_restored(model, target_layer, images, *, targets=None):
    return _cam(model, target_layer, images, targets=targets)  # leaves the model in eval


def cam_unfreezes(model, target_layer, images, *, targets=None):
    model.requires_grad_(True)
    return explain.gradcam(model, target_layer, images, targets=targets)


def cam_no_upsampling(model, target_layer, images, *, targets=None):
    with explain.eval_mode(model):
        small = _cam(model, target_layer, images[..., ::2, ::2], targets=targets)
    return small


def svd_no_sqrt(tensor, *, ranks=None, max_rank=None, eps=None):
    return tt.tt_svd(
        tensor,
        ranks=ranks,
        max_rank=max_rank,
        eps=None if eps is None else eps * math.sqrt(tensor.ndim - 1),
    )


def svd_no_caps(tensor, *, ranks=None, max_rank=None, eps=None):
    return tt.tt_svd(tensor, eps=eps)


def svd_vh_only(tensor, *, ranks=None, max_rank=None, eps=None):
    cores = tt.tt_svd(tensor, ranks=ranks, max_rank=max_rank, eps=eps)
    return [cores[0] * 2, *cores[1:]]


def svd_two_dimensional(tensor, *, ranks=None, max_rank=None, eps=None):
    cores = tt.tt_svd(tensor, ranks=ranks, max_rank=max_rank, eps=eps)
    return [cores[0][0], *cores[1:]]


def svd_core_index_order(tensor, *, ranks=None, max_rank=None, eps=None):
    cores = tt.tt_svd(tensor, ranks=ranks, max_rank=max_rank, eps=eps)
    mixed = [core.reshape(core.shape[1], core.shape[0], -1).transpose(0, 1) for core in cores]
    return [*mixed[:-1], cores[-1]]


def matrix_two_dimensional_only(x, cores):
    if x.ndim != 2:
        raise RuntimeError(f"shape {tuple(x.shape)} is invalid")
    return tt.tt_matrix_forward(x, cores)


def matrix_output_mode_contracted(x, cores):
    return tt.tt_matrix_forward(x, [core.transpose(1, 2) for core in cores])


def matrix_dense_out_of_memory(x, cores):
    raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4 GB")


def matrix_flat(x, cores):
    return tt.tt_matrix_forward(x, cores).reshape(-1, math.prod(c.shape[2] for c in cores))


def matrix_column_major_input(x, cores):
    m = [core.shape[1] for core in cores]
    flipped = x.reshape(-1, *m[::-1]).permute(0, *range(len(m), 0, -1))  # m_1 varies fastest
    return tt.tt_matrix_forward(flipped.reshape(x.shape), cores)


def meta_floats(path):
    return cacd.load_cacd_meta(path).astype({"age": "float64"})


def meta_reversed(path):
    return cacd.load_cacd_meta(path).iloc[::-1].reset_index(drop=True)


def meta_latin1(path):
    meta = cacd.load_cacd_meta(path)
    meta["name"] = [n.encode("utf-16-le")[::2].decode("latin-1") for n in meta["name"]]
    return meta


def age_rounded(age):
    return f"{min(round(age) // 10 * 10, 100)}s"


def age_no_cap(age):
    return f"{int(age) // 10 * 10}s"


def age_off_by_one(age):
    return "100s" if age > 100 else f"{int(age - 1) // 10 * 10}s"


def select_skip_small_groups(meta, *, per_group=200, seed=0):
    rng = np.random.default_rng(seed)
    groups = meta["age"].map(cacd.age_group)
    chosen = {}
    for group in sorted(groups.unique(), key=lambda g: int(g[:-1])):
        names = meta.loc[groups == group, "name"].tolist()
        if len(names) > per_group:
            names = [names[i] for i in np.sort(rng.permutation(len(names))[:per_group])]
        chosen[group] = names
    return chosen


def linear_at_classifier_2(model, num_classes, *, path="classifier.2"):
    old = model.classifier[2]
    model.classifier[2] = nn.Linear(old.in_features, num_classes, dtype=old.weight.dtype)
    return model


def select_fresh_rng(meta, *, per_group=200, seed=0):
    groups = meta["age"].map(cacd.age_group)
    chosen = {}
    for group in sorted(groups.unique(), key=lambda g: int(g[:-1])):
        names = meta.loc[groups == group, "name"].tolist()
        keep = np.sort(np.random.default_rng(seed).permutation(len(names))[:per_group])
        chosen[group] = [names[i] for i in keep]
    return chosen


def select_alphabetical(meta, *, per_group=200, seed=0):
    chosen = cacd.select_per_group(meta, per_group=per_group, seed=seed)
    return {group: chosen[group] for group in sorted(chosen)}


def select_unsorted(meta, *, per_group=200, seed=0):
    return {
        g: names[::-1]
        for g, names in cacd.select_per_group(meta, per_group=per_group, seed=seed).items()
    }


def split_swapped(labels, *, test_size=0.2, seed=42):
    train, test = splits.stratified_split_indices(labels, test_size=test_size, seed=seed)
    return test, train


def split_sorted(labels, *, test_size=0.2, seed=42):
    train, test = splits.stratified_split_indices(labels, test_size=test_size, seed=seed)
    return sorted(train), sorted(test)


def split_not_stratified(labels, *, test_size=0.2, seed=42):
    order = sorted(range(len(labels)), key=lambda i: labels[i])  # the first classes go to test
    cut = math.ceil(test_size * len(labels))
    return order[cut:], order[:cut]


MISTAKES = [
    (
        "a3_features",
        "extract_features",
        features_no_eval,
        "model outputs in eval mode, labels kept",
        "dropout is active",
    ),
    (
        "a3_features",
        "extract_features",
        features_not_flattened,
        "convolution maps flattened, device given",
        "flatten each batch",
    ),
    (
        "a3_features",
        "extract_features",
        features_no_finally,
        "the hook is removed when a batch fails",
        "finally",
    ),
    (
        "a3_features",
        "cosine_similarity_matrix",
        cosine_unnormalised,
        "random features",
        "divide each row by its length",
    ),
    (
        "a3_features",
        "cosine_similarity_matrix",
        cosine_columns,
        "random features",
        "not each column",
    ),
    (
        "a3_features",
        "cosine_similarity_matrix",
        cosine_nan,
        "symmetric, in [-1, 1], 1 on the diagonal",
        "clamp the norm",
    ),
    (
        "a3_features",
        "most_similar",
        similar_top_k_then_drop,
        "top 3 of item 2, itself excluded",
        "Leave it out first",
    ),
    ("a3_features", "most_similar", similar_unstable, "ties keep index order", "stable sort"),
    (
        "a3_features",
        "most_similar",
        similar_skip_first,
        "ties keep index order",
        "remove it by index",
    ),
    (
        "a3_features",
        "canvas_positions",
        canvas_not_flipped,
        "positions scaled into the canvas, y flipped",
        "y is not flipped",
    ),
    (
        "a3_features",
        "canvas_positions",
        canvas_swapped_sizes,
        "positions scaled into the canvas, y flipped",
        "canvas_size[0] - thumb_size[0]",
    ),
    (
        "a3_features",
        "canvas_positions",
        canvas_zero_span,
        "an axis without spread is centred",
        "without spread",
    ),
    (
        "a5_explain_compress",
        "gradcam",
        cam_no_relu,
        "predicted classes at the last ReLU (by name)",
        "without the ReLU",
    ),
    (
        "a5_explain_compress",
        "gradcam",
        cam_nearest,
        "given targets at a convolution, frozen layer kept",
        "not bilinear",
    ),
    (
        "a5_explain_compress",
        "gradcam",
        cam_not_restored,
        "maps in [0, 1] of the image size, hook removed, flags restored",
        "eval_mode",
    ),
    (
        "a5_explain_compress",
        "gradcam",
        cam_unfreezes,
        "given targets at a convolution, frozen layer kept",
        "requires_grad",
    ),
    (
        "a5_explain_compress",
        "gradcam",
        cam_no_upsampling,
        "predicted classes at the last ReLU (by name)",
        "upsample",
    ),
    (
        "a5_explain_compress",
        "tt_svd",
        svd_no_sqrt,
        "eps truncation of a low-rank tensor with noise",
        "√(d−1)",
    ),
    ("a5_explain_compress", "tt_svd", svd_no_caps, "caps and eps together", "caps"),
    (
        "a5_explain_compress",
        "tt_svd",
        svd_core_index_order,
        "exact decomposition of a 3-D tensor",
        "in row-major order",
    ),
    (
        "a5_explain_compress",
        "tt_svd",
        svd_core_index_order,
        "max_rank caps every rank",
        "in row-major order",
    ),
    (
        "a5_explain_compress",
        "tt_matrix_forward",
        matrix_two_dimensional_only,
        "three cores, leading dimensions",
        "keep x's leading dimensions",
    ),
    (
        "a5_explain_compress",
        "tt_matrix_forward",
        matrix_output_mode_contracted,
        "two cores, a batch of vectors",
        "not with the output mode n_k",
    ),
    (
        "a5_explain_compress",
        "tt_matrix_forward",
        matrix_dense_out_of_memory,
        "no dense matrix (it would need 4 GB)",
        "the dense matrix does not fit",
    ),
    ("a5_explain_compress", "tt_svd", svd_vh_only, "exact decomposition of a 3-D tensor", "S·Vᵀ"),
    (
        "a5_explain_compress",
        "tt_svd",
        svd_two_dimensional,
        "exact decomposition of a 3-D tensor",
        "3 dimensions",
    ),
    (
        "a5_explain_compress",
        "tt_matrix_forward",
        matrix_flat,
        "the shape (..., prod n_k), finite values",
        "leading dimensions",
    ),
    (
        "a5_explain_compress",
        "tt_matrix_forward",
        matrix_column_major_input,
        "two cores, a batch of vectors",
        "column-major",
    ),
    ("a4_age", "load_cacd_meta", meta_floats, "MATLAB v5 metadata", "expected int64"),
    ("a4_age", "load_cacd_meta", meta_reversed, "MATLAB v5 metadata", "keep file order"),
    (
        "a4_age",
        "load_cacd_meta",
        meta_latin1,
        "MATLAB v7.3 metadata (HDF5, UTF-16 names)",
        "utf-16-le",
    ),
    ("a4_age", "age_group", age_rounded, "decades, 100 and over", "round down"),
    ("a4_age", "age_group", age_no_cap, "decades, 100 and over", "'100s'"),
    ("a4_age", "age_group", age_off_by_one, "fractional and large ages", "a decade starts at"),
    (
        "a4_age",
        "select_per_group",
        select_skip_small_groups,
        "at most 4 names per decade",
        "for every group, also one smaller than per_group",
    ),
    (
        "a4_age",
        "replace_last_linear",
        linear_at_classifier_2,
        "another path, float64",
        "use the `path` argument",
    ),
    ("a4_age", "select_per_group", select_fresh_rng, "at most 4 names per decade", "one generator"),
    (
        "a4_age",
        "select_per_group",
        select_alphabetical,
        "every decade in ascending order, capped, in file order",
        "not as strings",
    ),
    (
        "a4_age",
        "select_per_group",
        select_unsorted,
        "every decade in ascending order, capped, in file order",
        "file order",
    ),
    (
        "a4_age",
        "stratified_split_indices",
        split_swapped,
        "80/20 keeping class shares",
        "(train, test) in that order",
    ),
    (
        "a4_age",
        "stratified_split_indices",
        split_sorted,
        "80/20 keeping class shares",
        "do not sort",
    ),
    (
        "a4_age",
        "stratified_split_indices",
        split_not_stratified,
        "disjoint parts covering every index, class shares kept",
        "stratify=labels",
    ),
]


@pytest.mark.parametrize(
    ("assignment", "name", "function", "title", "hint"),
    MISTAKES,
    ids=[m[2].__name__ for m in MISTAKES],
)
def test_typical_mistakes_fail_with_a_message_naming_them(assignment, name, function, title, hint):
    result = results(assignment, name, function)[title]
    assert not result.passed and hint in result.output, result.output


def test_hidden_feedback_reveals_no_expected_values():
    checks = load_checks("a4_age")
    got = run_checks("a4_age", "stratified_split_indices", split_not_stratified, which="hidden")
    assert all("expected [" not in r.output and "of its" not in r.output for r in got)
    hidden = [c for c in checks.cases if c.hidden and c.function == "age_group"]
    assert hidden
    for result in run_checks("a4_age", "age_group", age_no_cap, which="hidden"):
        assert not result.passed and "gave" not in result.output


def test_an_empty_function_earns_nothing():
    def empty(*args, **kwargs):
        raise NotImplementedError

    for assignment, names in MINE.items():
        for name in names:
            assert sum(r.score for r in run_checks(assignment, name, empty, which="all")) == 0


def test_property_cases_give_partial_credit_to_wrong_values():
    got = results("a5_explain_compress", "gradcam", cam_no_relu)
    assert got["maps in [0, 1] of the image size, hook removed, flags restored"].passed
    got = results("a3_features", "extract_features", features_no_eval)
    assert got["shapes and labels, hook removed, mode restored"].passed
    got = results("a4_age", "age_group", age_off_by_one)
    assert got["a decade folder name per age"].passed


def test_a_decade_folder_name_is_a_multiple_of_ten():
    got = results("a4_age", "age_group", lambda age: f"{int(age)}s")
    assert not got["a decade folder name per age"].passed
    assert "a multiple of 10" in got["a decade folder name per age"].output


def test_tiny_cnn_has_no_inplace_op_after_a_hooked_layer():
    from autograder.checks.families.compression import tiny_cnn

    assert not any(getattr(m, "inplace", False) for m in tiny_cnn(0).modules())
    assert isinstance(tiny_cnn(0).features[3], nn.Conv2d)
