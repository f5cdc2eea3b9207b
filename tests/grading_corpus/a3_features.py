"""Alternatives and mistakes of a3_features (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

# --- extract_features ----------------------------------------------------------------------

FEATURES_SIGNATURE = '''
def extract_features(
    model: nn.Module,
    loader: Iterable,
    *,
    layer: str | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Features of every ``(images, labels)`` batch in ``loader``, flattened, with the labels.

    ``layer=None`` takes the model's output; a dotted name such as ``"classifier.4"`` takes that
    layer's output through a forward hook, which is removed even when a batch fails. The model
    runs in eval mode without gradients on ``device`` (default: the model's) and is left in the
    mode it had. Returns features ``(N, D)`` and labels ``(N,)`` on the CPU.
    """
'''

FEATURES_IMPORTS = (
    "from collections.abc import Iterable\n\nimport torch\nfrom torch import Tensor, nn\n"
)

FEATURES_HOOK_LIST = (
    FEATURES_IMPORTS
    + "\nfrom course_lib.features import get_layer\n"
    + FEATURES_SIGNATURE
    + """\
    device = torch.device(device) if device is not None else next(model.parameters()).device
    captured: list[Tensor] = []
    handle = None
    if layer is not None:
        def keep(module, inputs, output):
            captured.append(output.detach().flatten(1).cpu())

        handle = get_layer(model, layer).register_forward_hook(keep)
    was_training = model.training
    features, labels = [], []
    try:
        model.eval()
        with torch.no_grad():
            for images, targets in loader:
                output = model(images.to(device))
                if handle is None:
                    features.append(output.flatten(1).cpu())
                labels.append(targets.cpu())
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    return torch.cat(captured if handle is not None else features), torch.cat(labels)
"""
)

FEATURES_SUBMODULE = (
    FEATURES_IMPORTS
    + FEATURES_SIGNATURE
    + """\
    if device is None:
        device = next(model.parameters()).device
    target = model if layer is None else model.get_submodule(layer)
    last = {}

    def hook(module: nn.Module, args, output: Tensor) -> None:
        last["output"] = output

    mode = model.training
    handle = target.register_forward_hook(hook)
    rows, names = [], []
    try:
        model.eval()
        with torch.inference_mode():
            for images, labels in loader:
                model(images.to(device))
                out = last["output"]
                rows.append(out.reshape(out.shape[0], -1).to("cpu"))
                names.append(labels.to("cpu"))
    finally:
        handle.remove()
        model.train(mode)
    return torch.cat(rows, dim=0), torch.cat(names, dim=0)
"""
)


def _features(body: str) -> str:
    return (
        FEATURES_IMPORTS
        + "\nfrom course_lib.features import get_layer\n"
        + FEATURES_SIGNATURE
        + body
    )


FEATURES_NO_EVAL = _features(
    """\
    device = device or next(model.parameters()).device
    store = []
    handle = None
    if layer is not None:
        handle = get_layer(model, layer).register_forward_hook(
            lambda m, i, o: store.append(o.flatten(1).cpu())
        )
    labels = []
    try:
        with torch.no_grad():
            for images, y in loader:
                out = model(images.to(device))
                if handle is None:
                    store.append(out.flatten(1).cpu())
                labels.append(y)
    finally:
        if handle is not None:
            handle.remove()
    return torch.cat(store), torch.cat(labels)
"""
)

FEATURES_HOOK_KEPT = _features(
    """\
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    store = []
    module = model if layer is None else get_layer(model, layer)
    module.register_forward_hook(lambda m, i, o: store.append(o.flatten(1).cpu()))
    labels = []
    with torch.no_grad():
        for images, y in loader:
            model(images.to(device))
            labels.append(y)
    model.train(was_training)
    return torch.cat(store), torch.cat(labels)
"""
)

FEATURES_LEFT_IN_EVAL = _features(
    """\
    device = device or next(model.parameters()).device
    model.eval()
    store = []
    module = model if layer is None else get_layer(model, layer)
    handle = module.register_forward_hook(lambda m, i, o: store.append(o.flatten(1).cpu()))
    labels = []
    try:
        with torch.no_grad():
            for images, y in loader:
                model(images.to(device))
                labels.append(y)
    finally:
        handle.remove()
    return torch.cat(store), torch.cat(labels)
"""
)

FEATURES_ALWAYS_TRAIN_AFTER = _features(
    """\
    device = device or next(model.parameters()).device
    model.eval()
    store = []
    module = model if layer is None else get_layer(model, layer)
    handle = module.register_forward_hook(lambda m, i, o: store.append(o.flatten(1).cpu()))
    labels = []
    try:
        with torch.no_grad():
            for images, y in loader:
                model(images.to(device))
                labels.append(y)
    finally:
        handle.remove()
        model.train()  # back to training, whatever the mode was
    return torch.cat(store), torch.cat(labels)
"""
)

FEATURES_NO_FINALLY = _features(
    """\
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    store = []
    module = model if layer is None else get_layer(model, layer)
    handle = module.register_forward_hook(lambda m, i, o: store.append(o.flatten(1).cpu()))
    labels = []
    with torch.no_grad():
        for images, y in loader:
            model(images.to(device))
            labels.append(y)
    handle.remove()  # skipped when a batch fails
    model.train(was_training)
    return torch.cat(store), torch.cat(labels)
"""
)

# --- cosine_similarity_matrix --------------------------------------------------------------

COSINE_SIGNATURE = '''
def cosine_similarity_matrix(features: Tensor) -> Tensor:
    """Cosine similarity of every pair of rows, ``(N, D) -> (N, N)``; zero rows give 0."""
'''

COSINE_NORMALIZE = (
    "import torch\nimport torch.nn.functional as F\nfrom torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    if not features.is_floating_point():
        features = features.float()
    unit = F.normalize(features, dim=1)  # zero rows stay zero
    return unit @ unit.T
"""
)

COSINE_MANUAL_FLOAT64 = (
    "import torch\nfrom torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    x = features if features.is_floating_point() else features.to(torch.float64)
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)  # (N, 1)
    unit = x / torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.mm(unit, unit.t())
"""
)

COSINE_BROADCAST = (
    "import torch.nn.functional as F\nfrom torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    x = features.float() if not features.is_floating_point() else features
    return F.cosine_similarity(x[:, None, :], x[None, :, :], dim=-1)
"""
)

COSINE_NOT_NORMALISED = (
    "from torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    x = features.float()
    return x @ x.T
"""
)

COSINE_COLUMNS = (
    "import torch.nn.functional as F\nfrom torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    unit = F.normalize(features.float(), dim=0)  # normalises the columns
    return unit @ unit.T
"""
)

COSINE_NAN = (
    "from torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    x = features.float()
    unit = x / x.norm(dim=1, keepdim=True)
    return unit @ unit.T
"""
)

COSINE_GRAM_OF_COLUMNS = (
    "import torch.nn.functional as F\nfrom torch import Tensor\n"
    + COSINE_SIGNATURE
    + """\
    unit = F.normalize(features.float(), dim=1)
    return unit.T @ unit  # (D, D)
"""
)

# --- most_similar --------------------------------------------------------------------------

SIMILAR_SIGNATURE = '''
def most_similar(similarity: Tensor, index: int, k: int) -> tuple[list[int], list[float]]:
    """The ``k`` items most similar to item ``index`` (itself excluded), best first.

    Ties keep index order (a stable sort). Fewer than ``k`` come back when there are fewer
    other items. Returns their indices and similarity scores.
    """
'''

SIMILAR_TORCH_STABLE = (
    "import torch\nfrom torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    row = similarity[index]
    order = torch.argsort(row, descending=True, stable=True)
    order = order[order != index][:k]
    return order.tolist(), row[order].tolist()
"""
)

SIMILAR_PYTHON_SORTED = (
    "from torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    scores = similarity[index].tolist()
    others = [j for j in range(len(scores)) if j != index]
    best = sorted(others, key=lambda j: -scores[j])[:k]  # sorted() is stable
    return best, [scores[j] for j in best]
"""
)

SIMILAR_NUMPY = (
    "import numpy as np\nfrom torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    row = similarity[index].detach().cpu().numpy()
    order = np.argsort(-row, kind="stable")
    chosen = [int(j) for j in order if j != index][:k]
    return chosen, [float(row[j]) for j in chosen]
"""
)

SIMILAR_SKIP_FIRST = (
    "import torch\nfrom torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    row = similarity[index]
    order = torch.argsort(row, descending=True, stable=True)[1 : k + 1]  # first is itself
    return order.tolist(), row[order].tolist()
"""
)

SIMILAR_ASCENDING = (
    "import torch\nfrom torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    row = similarity[index]
    order = torch.argsort(row, stable=True)
    order = order[order != index][:k]
    return order.tolist(), row[order].tolist()
"""
)

SIMILAR_SELF_KEPT = (
    "import torch\nfrom torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    row = similarity[index]
    order = torch.argsort(row, descending=True, stable=True)[:k]
    return order.tolist(), row[order].tolist()
"""
)

SIMILAR_TENSORS = (
    "import torch\nfrom torch import Tensor\n"
    + SIMILAR_SIGNATURE
    + """\
    row = similarity[index]
    order = torch.argsort(row, descending=True, stable=True)
    order = order[order != index][:k]
    return order, row[order]
"""
)

# --- canvas_positions ----------------------------------------------------------------------

CANVAS_SIGNATURE = '''
def canvas_positions(
    coords: np.ndarray | Tensor,
    *,
    canvas_size: tuple[int, int],
    thumb_size: tuple[int, int],
) -> list[tuple[int, int]]:
    """Top-left pixel ``(x, y)`` of each thumbnail so that all lie fully inside the canvas.

    Each axis of ``coords`` ``(N, 2)`` is scaled from its min..max onto ``0..canvas - thumb``
    (article 002 centred the map and lost thumbnails past the edges). The y axis is flipped so
    that the canvas looks like a scatter plot of the same points. Sizes are (width, height).
    """
'''

CANVAS_IMPORTS = "import numpy as np\nfrom torch import Tensor\n"

CANVAS_NUMPY_ROUND = (
    CANVAS_IMPORTS
    + CANVAS_SIGNATURE
    + """\
    points = np.asarray(coords, dtype=np.float64)  # (N, 2)
    free = np.array(canvas_size, dtype=np.float64) - np.array(thumb_size)  # (2,)
    low, high = points.min(axis=0), points.max(axis=0)
    spread = high - low
    unit = np.where(spread > 0, (points - low) / np.where(spread > 0, spread, 1.0), 0.5)
    unit[:, 1] = 1.0 - unit[:, 1]  # image rows grow downwards
    pixels = np.rint(unit * free).astype(int)
    return [(int(x), int(y)) for x, y in pixels]
"""
)

CANVAS_LOOP_TRUNCATE = (
    CANVAS_IMPORTS
    + CANVAS_SIGNATURE
    + """\
    points = [(float(x), float(y)) for x, y in np.asarray(coords)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    free_x = canvas_size[0] - thumb_size[0]
    free_y = canvas_size[1] - thumb_size[1]

    def scale(value: float, low: float, high: float, free: int) -> int:
        if high == low:
            return free // 2
        return int((value - low) / (high - low) * free)

    return [
        (scale(x, min(xs), max(xs), free_x), scale(max(ys) - y + min(ys), min(ys), max(ys), free_y))
        for x, y in points
    ]
"""
)

CANVAS_TORCH = (
    "import numpy as np\nimport torch\nfrom torch import Tensor\n"
    + CANVAS_SIGNATURE
    + """\
    points = torch.as_tensor(np.asarray(coords), dtype=torch.float64)
    free = torch.tensor(canvas_size, dtype=torch.float64) - torch.tensor(thumb_size)
    low, high = points.amin(dim=0), points.amax(dim=0)
    span = high - low
    scaled = torch.where(span > 0, (points - low) / span.clamp(min=1e-300), 0.5) * free
    scaled[:, 1] = free[1] - scaled[:, 1]
    return [tuple(int(v) for v in row) for row in scaled.round().long().tolist()]
"""
)


def _canvas(body: str) -> str:
    return CANVAS_IMPORTS + CANVAS_SIGNATURE + body


CANVAS_NO_FLIP = _canvas(
    """\
    points = np.asarray(coords, dtype=float)
    free = np.array(canvas_size) - np.array(thumb_size)
    low, spread = points.min(axis=0), np.ptp(points, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    pixels = np.rint((points - low) / spread * free).astype(int)
    return [(int(x), int(y)) for x, y in pixels]
"""
)

CANVAS_WHOLE_CANVAS = _canvas(
    """\
    points = np.asarray(coords, dtype=float)
    size = np.array(canvas_size)  # forgot to leave room for the thumbnail
    low, spread = points.min(axis=0), np.ptp(points, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    unit = (points - low) / spread
    unit[:, 1] = 1 - unit[:, 1]
    pixels = np.rint(unit * size).astype(int)
    return [(int(x), int(y)) for x, y in pixels]
"""
)

CANVAS_ONE_RANGE = _canvas(
    """\
    points = np.asarray(coords, dtype=float)
    free = np.array(canvas_size) - np.array(thumb_size)
    low, high = points.min(), points.max()  # one range for both axes
    unit = (points - low) / (high - low)
    unit[:, 1] = 1 - unit[:, 1]
    pixels = np.rint(unit * free).astype(int)
    return [(int(x), int(y)) for x, y in pixels]
"""
)

CANVAS_NO_SPREAD_GUARD = _canvas(
    """\
    points = np.asarray(coords, dtype=float)
    free = np.array(canvas_size) - np.array(thumb_size)
    low, high = points.min(axis=0), points.max(axis=0)
    unit = (points - low) / (high - low)
    unit[:, 1] = 1 - unit[:, 1]
    pixels = np.rint(unit * free).astype(int)
    return [(int(x), int(y)) for x, y in pixels]
"""
)

CANVAS_HEIGHT_WIDTH = _canvas(
    """\
    points = np.asarray(coords, dtype=float)
    (canvas_h, canvas_w), (thumb_h, thumb_w) = canvas_size, thumb_size  # read as (H, W)
    free = np.array([canvas_w - thumb_w, canvas_h - thumb_h])
    low, spread = points.min(axis=0), np.ptp(points, axis=0)
    unit = np.where(spread > 0, (points - low) / np.where(spread > 0, spread, 1.0), 0.5)
    unit[:, 1] = 1 - unit[:, 1]
    pixels = np.rint(unit * free).astype(int)
    return [(int(x), int(y)) for x, y in pixels]
"""
)

EXTRACT = "model outputs in eval mode, labels kept"
HOOKED = "a hidden layer through a hook"
COSINE = "random features"
COSINE_INVARIANTS = "symmetric, in [-1, 1], 1 on the diagonal"
SIMILAR = "top 3 of item 2, itself excluded"
CANVAS = "positions scaled into the canvas, y flipped"
EVAL_STAYS = "eval-mode model stays in eval mode"
BATCH_FAILS = "the hook is removed when a batch fails"
ZERO_ROW = "a zero row gives zeros"
TIES = "ties keep index order"
FLAT = "an axis without spread is centred"

ALTERNATIVES: list[Alternative] = [
    Alternative("extract_features", "hook-list-get-layer", FEATURES_HOOK_LIST),
    Alternative("extract_features", "get-submodule-inference-mode", FEATURES_SUBMODULE),
    Alternative("cosine_similarity_matrix", "f-normalize-matmul", COSINE_NORMALIZE),
    Alternative("cosine_similarity_matrix", "manual-norms-float64", COSINE_MANUAL_FLOAT64),
    Alternative("cosine_similarity_matrix", "broadcast-cosine-similarity", COSINE_BROADCAST),
    Alternative("most_similar", "torch-stable-argsort", SIMILAR_TORCH_STABLE),
    Alternative("most_similar", "python-sorted", SIMILAR_PYTHON_SORTED),
    Alternative("most_similar", "numpy-stable-argsort", SIMILAR_NUMPY),
    Alternative("canvas_positions", "numpy-rint", CANVAS_NUMPY_ROUND),
    Alternative("canvas_positions", "loop-truncate", CANVAS_LOOP_TRUNCATE),
    Alternative("canvas_positions", "torch-round", CANVAS_TORCH),
]

MISTAKES: list[Mistake] = [
    Mistake("extract_features", "no-eval-mode", FEATURES_NO_EVAL, EXTRACT, "dropout is active"),
    Mistake(
        "extract_features", "hook-not-removed", FEATURES_HOOK_KEPT, HOOKED, "hook(s) were left"
    ),
    Mistake(
        "extract_features", "mode-not-restored", FEATURES_LEFT_IN_EVAL, EXTRACT, "model.train(was)"
    ),
    Mistake(
        "extract_features",
        "train-mode-forced",
        FEATURES_ALWAYS_TRAIN_AFTER,
        EVAL_STAYS,
        "is in train mode after the call",
    ),
    Mistake(
        "extract_features", "no-finally", FEATURES_NO_FINALLY, BATCH_FAILS, "in a finally block"
    ),
    Mistake(
        "cosine_similarity_matrix",
        "not-normalised",
        COSINE_NOT_NORMALISED,
        COSINE,
        "divide each row by its length",
    ),
    Mistake(
        "cosine_similarity_matrix",
        "columns-normalised",
        COSINE_COLUMNS,
        COSINE,
        "not each column (dim=0)",
    ),
    Mistake("cosine_similarity_matrix", "zero-row-nan", COSINE_NAN, ZERO_ROW, "clamp the norm"),
    Mistake(
        "cosine_similarity_matrix", "gram-of-columns", COSINE_GRAM_OF_COLUMNS, COSINE, "not x.T @ x"
    ),
    Mistake(
        "most_similar",
        "first-assumed-itself",
        SIMILAR_SKIP_FIRST,
        TIES,
        "the query isn't always first in the sorted row",
    ),
    Mistake(
        "most_similar", "least-similar-first", SIMILAR_ASCENDING, SIMILAR, "not in descending order"
    ),
    Mistake(
        "most_similar", "itself-included", SIMILAR_SELF_KEPT, SIMILAR, "itself is among the results"
    ),
    Mistake(
        "most_similar", "tensors-not-lists", SIMILAR_TENSORS, SIMILAR, "expected a Python list"
    ),
    Mistake("canvas_positions", "y-not-flipped", CANVAS_NO_FLIP, CANVAS, "y is not flipped"),
    Mistake(
        "canvas_positions", "thumbnail-size-ignored", CANVAS_WHOLE_CANVAS, CANVAS, "not 0..canvas"
    ),
    Mistake(
        "canvas_positions", "one-range-both-axes", CANVAS_ONE_RANGE, CANVAS, "not both by one range"
    ),
    Mistake(
        "canvas_positions",
        "flat-axis-divides-by-zero",
        CANVAS_NO_SPREAD_GUARD,
        FLAT,
        "guard the division",
    ),
    Mistake(
        "canvas_positions",
        "sizes-read-as-height-width",
        CANVAS_HEIGHT_WIDTH,
        CANVAS,
        "the room along x is canvas_size[0] - thumb_size[0]",
    ),
]
