"""Checks of a2_transfer: the VGG16 head, freezing, one training epoch and top-k accuracy."""

from __future__ import annotations

from autograder.checks.families.metrics import topk_case, topk_invariants
from autograder.checks.families.models import head_case, head_structure, trainable_case
from autograder.checks.families.training import epoch_case, epoch_properties

FUNCTIONS = {
    "build_vgg16_head": "course_lib.models",
    "set_trainable": "course_lib.models",
    "train_one_epoch": "course_lib.train",
    "topk_accuracy": "course_lib.metrics",
}

#: Imported once by the sandbox server: a torch optimizer imports it when it is first built.
PRELOAD = ("torch._dynamo",)

CASES = [
    head_case(
        "layers and shapes",
        {"num_classes": 7, "in_features": 40, "hidden": 16},
        compare=head_structure,
        points=1,
    ),
    head_case(
        "layers, shapes and He initialisation", {"num_classes": 7, "in_features": 40, "hidden": 16}
    ),
    trainable_case("freeze the features", steps=[("features", False)], frozen=False),
    trainable_case(
        "freezing twice: the second call changes nothing and returns 0",
        steps=[("features", False), ("features", False)],
        frozen=False,
    ),
    trainable_case(
        "unfreeze two layers of a frozen model",
        steps=[(["features.2", "classifier.0"], True)],
        frozen=True,
    ),
    trainable_case(
        "a prefix inside other names is no match",
        steps=[("classifier", False)],
        frozen=False,
        aux=True,
    ),
    epoch_case(
        "metrics as floats, the scheduler stepped per batch",
        seed=1,
        sizes=(6, 6, 6, 6, 6),
        scheduler=True,
        compare=epoch_properties,
        reference=False,
        points=1,
    ),
    epoch_case(
        "one epoch with CyclicLR stepped per batch", seed=1, sizes=(6, 6, 6, 6, 6), scheduler=True
    ),
    epoch_case("loss and top-1 averaged over samples", seed=2, sizes=(8, 8, 3), scheduler=False),
    topk_case("top-1 and top-5 on random logits", seed=1, n=64, classes=10, topk=(1, 5)),
    topk_case("ties at k=5", seed=2, n=48, classes=8, topk=(1, 5), ties=True),
    topk_case(
        "non-decreasing in k and 1 at k=C",
        seed=3,
        n=40,
        classes=6,
        topk=(1, 2, 3, 4, 5, 6),
        compare=topk_invariants,
        reference=False,
    ),
    ### BEGIN HIDDEN TESTS
    head_case(
        "dropout and sizes passed through",
        {"num_classes": 3, "in_features": 30, "hidden": 12, "dropout": 0.25},
        hidden=True,
    ),
    head_case(
        "default in_features", {"num_classes": 5, "hidden": 8}, hidden=True, compare=head_structure
    ),
    trainable_case(
        "only tensors that change are counted",
        hidden=True,
        frozen=False,
        steps=[("classifier", False), ("classifier", False), ("", True)],
    ),
    trainable_case(
        "a prefix matching nothing is an error",
        hidden=True,
        frozen=False,
        steps=[("decoder", False)],
    ),
    epoch_case(
        "log-probabilities with NLLLoss and Adam, device given",
        hidden=True,
        seed=3,
        sizes=(5, 5, 5, 5),
        scheduler=True,
        log_probs=True,
        adam=True,
        device="cpu",
    ),
    epoch_case(
        "mixed precision with a GradScaler",
        hidden=True,
        seed=4,
        sizes=(4, 6, 5),
        scheduler=False,
        scaler=True,
    ),
    topk_case(
        "log-probabilities, 200 classes",
        hidden=True,
        seed=11,
        n=50,
        classes=200,
        topk=(1, 5),
        transform="log_softmax",
    ),
    topk_case(
        "one sample, probabilities",
        hidden=True,
        seed=12,
        n=1,
        classes=5,
        topk=(1, 2, 5),
        transform="softmax",
    ),
    ### END HIDDEN TESTS
]
