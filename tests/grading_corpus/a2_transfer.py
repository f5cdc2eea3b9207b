"""Alternatives and mistakes of a2_transfer (see grading_corpus)."""

from grading_corpus import Alternative, Mistake

# --- build_vgg16_head ----------------------------------------------------------------------

HEAD_SIGNATURE = '''
def build_vgg16_head(
    num_classes: int, *, in_features: int = 25088, hidden: int = 512, dropout: float = 0.5
) -> nn.Sequential:
    """The new classifier of article 001: two hidden blocks (Linear, ReLU, BatchNorm1d, Dropout)
    and a last Linear; Linear weights He-initialised (kaiming uniform), biases 0, BatchNorm 1/0."""
'''

HEAD_LOOP_MODULES = (
    "from torch import nn\n"
    + HEAD_SIGNATURE
    + """\
    layers, width = [], in_features
    for _ in range(2):
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.BatchNorm1d(hidden),
                   nn.Dropout(dropout)]
        width = hidden
    head = nn.Sequential(*layers, nn.Linear(hidden, num_classes))
    for module in head.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return head
"""
)

HEAD_APPLY = (
    "import torch\nfrom torch import nn\n"
    + HEAD_SIGNATURE
    + """\
    def he_init(module: nn.Module) -> None:
        if type(module) is nn.Linear:
            torch.nn.init.kaiming_uniform_(module.weight, a=0, mode="fan_in")
            module.bias.data.fill_(0.0)

    head = nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.BatchNorm1d(hidden),
        nn.Dropout(p=dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.BatchNorm1d(hidden),
        nn.Dropout(p=dropout),
        nn.Linear(hidden, num_classes),
    )
    head.apply(he_init)
    return head
"""
)

HEAD_NAMED = (
    "from collections import OrderedDict\n\nfrom torch import nn\n"
    + HEAD_SIGNATURE
    + """\
    head = nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(in_features, hidden),
            relu1=nn.ReLU(),
            bn1=nn.BatchNorm1d(hidden),
            drop1=nn.Dropout(dropout),
            fc2=nn.Linear(hidden, hidden),
            relu2=nn.ReLU(),
            bn2=nn.BatchNorm1d(hidden),
            drop2=nn.Dropout(dropout),
            out=nn.Linear(hidden, num_classes),
        )
    )
    for layer in (head.fc1, head.fc2, head.out):
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
        nn.init.constant_(layer.bias, 0.0)
    return head
"""
)


def _head(block: str, init: str, last: str = "nn.Linear(hidden, num_classes)") -> str:
    """A head whose two hidden blocks are ``block`` and whose Linear layers get ``init``."""
    return (
        "from torch import nn\n"
        + HEAD_SIGNATURE
        + f"""\
    head = nn.Sequential(
        {block.format(i="in_features")},
        {block.format(i="hidden")},
        {last},
    )
    for module in head.modules():
        if isinstance(module, nn.Linear):
{init}
    return head
"""
    )


HE = """\
            nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)"""
ARTICLE_BLOCK = "nn.Linear({i}, hidden), nn.ReLU(), nn.BatchNorm1d(hidden), nn.Dropout(dropout)"

HEAD_BN_BEFORE_RELU = _head(
    "nn.Linear({i}, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout)", HE
)
HEAD_KAIMING_NORMAL = _head(
    ARTICLE_BLOCK,
    """\
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)""",
)
HEAD_XAVIER = _head(
    ARTICLE_BLOCK,
    """\
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)""",
)
HEAD_BIAS_KEPT = _head(
    ARTICLE_BLOCK,
    """\
            nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")""",
)
HEAD_DROPOUT_FIXED = _head(
    "nn.Linear({i}, hidden), nn.ReLU(), nn.BatchNorm1d(hidden), nn.Dropout(0.5)", HE
)

# --- set_trainable -------------------------------------------------------------------------

TRAINABLE_COUNT_MATCHED = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.

    Names are those of ``model.named_parameters()``; ``""`` matches all of them. The test is a
    plain ``str.startswith``: ``"features.1"`` also matches ``"features.10.weight"`` (write
    ``"features.1."`` for exactly one layer).
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    params = dict(model.named_parameters())
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in params):
            raise ValueError(f"no parameter name starts with {prefix!r}: a typo?")
    chosen = [p for name, p in params.items() if name.startswith(tuple(prefixes))]
    for p in chosen:
        p.requires_grad_(trainable)
    return len(chosen)
'''

TRAINABLE_FLIPPED_COUNT = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.

    Names are those of ``model.named_parameters()``; ``""`` matches all of them. The test is a
    plain ``str.startswith``: ``"features.1"`` also matches ``"features.10.weight"`` (write
    ``"features.1."`` for exactly one layer).
    """
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    unused = set(prefixes)
    changed = 0
    for name, param in model.named_parameters():
        hits = {prefix for prefix in prefixes if name.startswith(prefix)}
        if hits:
            unused -= hits
            if param.requires_grad != trainable:
                param.requires_grad = trainable
                changed += 1
    if unused:
        raise ValueError(f"prefixes {sorted(unused)} match no parameter of the model")
    return changed
'''

TRAINABLE_CHARS = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.
    """
    count = 0
    for name, param in model.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):  # a str is iterated by letter
            param.requires_grad = trainable
            count += 1
    if count == 0:
        raise ValueError(f"no parameter matches {prefixes!r}")
    return count
'''

TRAINABLE_NO_ERROR = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    count = 0
    for name, param in model.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            param.requires_grad = trainable
            count += 1
    return count
'''

TRAINABLE_NUMEL = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in model.named_parameters()):
            raise ValueError(f"no parameter name starts with {prefix!r}")
    count = 0
    for name, param in model.named_parameters():
        if name.startswith(tuple(prefixes)):
            param.requires_grad = trainable
            count += param.numel()  # counts values, not tensors
    return count
'''

TRAINABLE_SUBSTRING = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    params = dict(model.named_parameters())
    for prefix in prefixes:
        if not any(prefix in name for name in params):
            raise ValueError(f"no parameter name contains {prefix!r}")
    changed = 0
    for name, param in params.items():
        if any(prefix in name for prefix in prefixes) and param.requires_grad != trainable:
            param.requires_grad = trainable
            changed += 1
    return changed
'''

TRAINABLE_WHOLE_LAYER = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    layers = tuple(prefix.rstrip(".") + "." for prefix in prefixes)  # whole layers only
    params = dict(model.named_parameters())
    for layer in layers:
        if not any(name.startswith(layer) for name in params):
            raise ValueError(f"no parameter in layer {layer!r}")
    changed = 0
    for name, param in params.items():
        if name.startswith(layers) and param.requires_grad != trainable:
            param.requires_grad = trainable
            changed += 1
    return changed
'''

TRAINABLE_VALIDATE_FIRST = '''
from collections.abc import Sequence

from torch import nn


def set_trainable(model: nn.Module, prefixes: str | Sequence[str], trainable: bool) -> int:
    """Set ``requires_grad`` of every parameter whose name starts with one of ``prefixes``;
    return how many parameter tensors changed. A prefix matching no parameter is an error.

    Names are those of ``model.named_parameters()``; ``""`` matches all of them. The test is a
    plain ``str.startswith``: ``"features.1"`` also matches ``"features.10.weight"`` (write
    ``"features.1."`` for exactly one layer).
    """
    wanted = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    params = dict(model.named_parameters())
    missing = [p for p in wanted if not any(name.startswith(p) for name in params)]
    if missing:
        raise ValueError(f"no parameter name starts with {missing}: check for a typo")
    to_change = [
        p for name, p in params.items() if name.startswith(wanted) and p.requires_grad != trainable
    ]
    for param in to_change:
        param.requires_grad_(trainable)
    return len(to_change)
'''

# --- topk_accuracy -------------------------------------------------------------------------

TOPK_SIGNATURE = '''
def topk_accuracy(output: Tensor, target: Tensor, topk: Sequence[int] = (1,)) -> list[float]:
    """Fraction of samples whose target is among the k highest scores, for each k.

    ``output`` (N, C) holds logits, probabilities or log-probabilities (any increasing
    transform of them gives the same result); ``target`` (N,) class indices.
    """
'''

TOPK_IMPORTS = "from collections.abc import Sequence\n\nimport torch\nfrom torch import Tensor\n"

TOPK_TORCH_TOPK = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    _, best = output.topk(max(topk), dim=1)  # (N, maxk), highest first
    hits = best.eq(target.view(-1, 1))  # (N, maxk)
    return [hits[:, :k].any(dim=1).float().mean().item() for k in topk]
"""
)

TOPK_RANK_OPTIMISTIC = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    true_score = output.gather(1, target.long().unsqueeze(1))  # (N, 1)
    rank = (output > true_score).sum(dim=1)  # classes strictly better than the target
    return [float((rank < k).double().mean()) for k in topk]
"""
)

TOPK_STABLE_ARGSORT = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    order = torch.argsort(output, dim=1, descending=True, stable=True)  # (N, C)
    position = (order == target[:, None]).int().argmax(dim=1)  # where the target landed
    n = len(target)
    return [int((position < k).sum()) / n for k in topk]
"""
)

TOPK_PERCENT = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    maxk, batch_size = max(topk), target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    result = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0)
        result.append(correct_k.mul_(100.0 / batch_size).item())  # percent, not a fraction
    return result
"""
)

TOPK_NOT_TRANSPOSED = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    maxk, batch_size = max(topk), target.size(0)
    _, pred = output.topk(maxk, 1, True, True)  # (N, maxk): rows are samples
    correct = pred.eq(target.view(-1, 1).expand_as(pred))
    result = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0)  # first k samples, not first k ranks
        result.append(correct_k.item() / batch_size)
    return result
"""
)

TOPK_ASCENDING = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    order = torch.argsort(output, dim=1)  # ascending: the lowest scores first
    hits = order == target[:, None]
    return [hits[:, :k].any(dim=1).float().mean().item() for k in topk]
"""
)

TOPK_TENSORS = (
    TOPK_IMPORTS
    + TOPK_SIGNATURE
    + """\
    _, best = output.topk(max(topk), dim=1)
    hits = best.eq(target.view(-1, 1))
    return [hits[:, :k].any(dim=1).float().mean() for k in topk]  # 0-d tensors
"""
)

# --- train_one_epoch -----------------------------------------------------------------------

EPOCH_SIGNATURE = '''
def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: nn.Module,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | str | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over ``loader``, stepping the optimizer *and the scheduler* after every batch.

    Returns the mean loss and top-1 accuracy over the samples seen (``{"loss", "top1"}``).
    With a ``scaler`` the forward pass runs under autocast (mixed precision on CUDA).
    """
'''

EPOCH_IMPORTS = (
    "from collections.abc import Iterable\n\nimport torch\nfrom torch import Tensor, nn\n"
)

EPOCH_PLAIN = (
    EPOCH_IMPORTS
    + EPOCH_SIGNATURE
    + """\
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            with torch.autocast(device_type=device.type):
                logits = model(images)
                loss = loss_fn(logits, labels)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            logits = model(images)
            loss = loss_fn(logits, labels)
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return {"loss": total_loss / seen, "top1": correct / seen}
"""
)

EPOCH_TENSOR_SUMS = (
    EPOCH_IMPORTS
    + "\nfrom course_lib.utils import progress\n"
    + EPOCH_SIGNATURE
    + """\
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64)
    hits = torch.zeros((), dtype=torch.long)
    count = 0
    for images, labels in progress(loader, desc="train"):
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, enabled=scaler is not None):
            scores = model(images)
            loss = loss_fn(scores, labels)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad()
        if scheduler:
            scheduler.step()
        loss_sum += loss.detach().double().cpu() * labels.shape[0]
        hits += (scores.detach().topk(1, dim=1).indices.squeeze(1) == labels).sum().cpu()
        count += labels.shape[0]
    return {"loss": float(loss_sum / count), "top1": float(hits) / count}
"""
)


def _epoch(loop: str, *, train: str = "    model.train()\n", result: str = "") -> str:
    """A train_one_epoch (no scaler) whose per-batch body is ``loop``."""
    result = result or '    return {"loss": total / seen, "top1": correct / seen}\n'
    return (
        EPOCH_IMPORTS
        + EPOCH_SIGNATURE
        + "    device = device or next(model.parameters()).device\n"
        + train
        + "    total, correct, seen = 0.0, 0, 0\n"
        + "    for images, labels in loader:\n"
        + "        images, labels = images.to(device), labels.to(device)\n"
        + loop
        + "        total += loss.item() * len(labels)\n"
        + "        correct += (logits.argmax(1) == labels).sum().item()\n"
        + "        seen += len(labels)\n"
        + result
    )


GOOD_STEP = """\
        optimizer.zero_grad()
        logits = model(images)
        loss = loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
"""

EPOCH_SCHEDULER_PER_EPOCH = _epoch(
    GOOD_STEP,
    result="""\
    if scheduler is not None:
        scheduler.step()  # once per epoch, as the article
    return {"loss": total / seen, "top1": correct / seen}
""",
)
EPOCH_SCHEDULER_FIRST = _epoch(
    """\
        optimizer.zero_grad()
        logits = model(images)
        loss = loss_fn(logits, labels)
        loss.backward()
        if scheduler is not None:
            scheduler.step()
        optimizer.step()
"""
)
EPOCH_NO_TRAIN_MODE = _epoch(
    GOOD_STEP
    + """\
        if scheduler is not None:
            scheduler.step()
""",
    train="",
)
EPOCH_NO_ZERO_GRAD = _epoch(
    """\
        logits = model(images)
        loss = loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
"""
)
EPOCH_SCALER_IGNORED = _epoch(
    GOOD_STEP
    + """\
        if scheduler is not None:
            scheduler.step()
"""
)
EPOCH_MEAN_OF_BATCHES = (
    EPOCH_IMPORTS
    + EPOCH_SIGNATURE
    + """\
    device = device or next(model.parameters()).device
    model.train()
    losses, accuracies = [], []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)
        loss = loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
        accuracies.append((logits.argmax(1) == labels).float().mean().item())
    return {"loss": sum(losses) / len(losses), "top1": sum(accuracies) / len(accuracies)}
"""
)

HEAD = "layers, shapes and He initialisation"
FREEZE = "freeze the features"
UNFREEZE = "unfreeze two layers of a frozen model"
TOPK = "top-1 and top-5 on random logits"
TIES = "ties at k=5"
INVARIANTS = "non-decreasing in k and 1 at k=C"
PER_BATCH = "one epoch with CyclicLR stepped per batch"
AVERAGED = "loss and top-1 averaged over samples"
SCALER = "mixed precision with a GradScaler"
SIZES = "dropout and sizes passed through"
TWICE = "freezing twice: the second call changes nothing and returns 0"
ONLY_CHANGED = "only tensors that change are counted"
NOTHING = "a prefix matching nothing is an error"
INSIDE = "a prefix inside other names is no match"

ALTERNATIVES: list[Alternative] = [
    Alternative("build_vgg16_head", "loop-blocks-init-modules", HEAD_LOOP_MODULES),
    Alternative("build_vgg16_head", "explicit-layers-apply", HEAD_APPLY),
    Alternative("build_vgg16_head", "named-layers", HEAD_NAMED),
    Alternative("set_trainable", "one-pass-count-flipped", TRAINABLE_FLIPPED_COUNT),
    Alternative("set_trainable", "validate-first-tuple-startswith", TRAINABLE_VALIDATE_FIRST),
    Alternative("topk_accuracy", "torch-topk-eq", TOPK_TORCH_TOPK),
    Alternative("topk_accuracy", "rank-ties-favour-target", TOPK_RANK_OPTIMISTIC),
    Alternative("topk_accuracy", "stable-argsort-position", TOPK_STABLE_ARGSORT),
    Alternative("train_one_epoch", "item-per-batch", EPOCH_PLAIN),
    Alternative("train_one_epoch", "tensor-sums-progress-autocast", EPOCH_TENSOR_SUMS),
]

MISTAKES: list[Mistake] = [
    Mistake(
        "build_vgg16_head", "batchnorm-before-relu", HEAD_BN_BEFORE_RELU, HEAD, "article's order"
    ),
    Mistake(
        "build_vgg16_head", "kaiming-normal", HEAD_KAIMING_NORMAL, HEAD, "use the uniform variant"
    ),
    Mistake("build_vgg16_head", "xavier-uniform", HEAD_XAVIER, HEAD, "weight spread is"),
    Mistake(
        "build_vgg16_head", "biases-not-zeroed", HEAD_BIAS_KEPT, HEAD, "biases must start at 0"
    ),
    Mistake(
        "build_vgg16_head", "dropout-hard-coded", HEAD_DROPOUT_FIXED, SIZES, "dropout probabilities"
    ),
    Mistake(
        "set_trainable",
        "counts-matched-not-changed",
        TRAINABLE_COUNT_MATCHED,
        TWICE,
        "actually changed",
    ),
    Mistake(
        "set_trainable",
        "string-iterated-by-letter",
        TRAINABLE_CHARS,
        ONLY_CHANGED,
        "starts with a prefix",
    ),
    Mistake(
        "set_trainable",
        "no-error-for-unknown-prefix",
        TRAINABLE_NO_ERROR,
        NOTHING,
        "must raise ValueError",
    ),
    Mistake(
        "set_trainable",
        "counts-values-not-tensors",
        TRAINABLE_NUMEL,
        FREEZE,
        "how many parameter tensors",
    ),
    Mistake(
        "set_trainable",
        "dot-appended-to-prefix",
        TRAINABLE_WHOLE_LAYER,
        ONLY_CHANGED,
        "(str.startswith)",
    ),
    Mistake(
        "set_trainable",
        "substring-not-prefix",
        TRAINABLE_SUBSTRING,
        INSIDE,
        "str.startswith, not `prefix in name`",
    ),
    Mistake("topk_accuracy", "percent-not-fraction", TOPK_PERCENT, TOPK, "not a percentage"),
    Mistake(
        "topk_accuracy",
        "first-k-samples",
        TOPK_NOT_TRANSPOSED,
        TOPK,
        "correct[:k] slices samples: take the first k columns",
    ),
    Mistake("topk_accuracy", "lowest-scores", TOPK_ASCENDING, TOPK, "*lowest* scores"),
    Mistake(
        "topk_accuracy", "tensors-not-floats", TOPK_TENSORS, INVARIANTS, "expected a Python float"
    ),
    Mistake(
        "train_one_epoch",
        "scheduler-per-epoch",
        EPOCH_SCHEDULER_PER_EPOCH,
        PER_BATCH,
        "step it once after every batch",
    ),
    Mistake(
        "train_one_epoch",
        "scheduler-before-optimizer",
        EPOCH_SCHEDULER_FIRST,
        PER_BATCH,
        "step the optimizer before the scheduler",
    ),
    Mistake(
        "train_one_epoch", "no-train-mode", EPOCH_NO_TRAIN_MODE, AVERAGED, "call model.train()"
    ),
    Mistake(
        "train_one_epoch",
        "no-zero-grad",
        EPOCH_NO_ZERO_GRAD,
        AVERAGED,
        "gradients pile up across batches: call optimizer.zero_grad() every batch",
    ),
    Mistake(
        "train_one_epoch",
        "mean-of-batch-means",
        EPOCH_MEAN_OF_BATCHES,
        AVERAGED,
        "weight each batch's loss",
    ),
    Mistake(
        "train_one_epoch",
        "scaler-ignored",
        EPOCH_SCALER_IGNORED,
        SCALER,
        "GradScaler made 0 updates",
    ),
]
