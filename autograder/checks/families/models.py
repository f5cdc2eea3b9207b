"""Check families of model-building functions: the VGG16 head and freezing by name prefix."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import family, generator, layer_types, module_of
from autograder.plaindata import ModuleSummary
from autograder.spec import Context, Inputs

# --- build_vgg16_head ----------------------------------------------------------------------


def head_inputs(workdir: Path, **options: Any) -> Inputs:
    return options


def head_call(function, inputs: Inputs) -> Any:
    options = dict(inputs)
    head = function(options.pop("num_classes"), **options)
    if not isinstance(head, nn.Module):
        return {"head": head}
    batch = torch.randn(4, inputs.get("in_features", 25088), generator=generator(0))
    dropout = [float(m.p) for m in head.modules() if isinstance(m, nn.Dropout)]
    return {"head": head, "dropout": dropout, "output_shape": list(head.eval()(batch).shape)}


def head_compare(actual: Any, expected: Any, context: Context) -> None:
    """Layers in order, parameter shapes, He (kaiming-uniform) weights, zero biases, BN 1/0."""
    head = module_of(actual.get("head") if isinstance(actual, dict) else actual)
    want = expected["head"]
    types, want_types = layer_types(head), layer_types(want)
    asserts.check(
        types == want_types,
        f"layers: expected {len(want_types)} layers in the "
        f"article's order, got {len(types)}: {', '.join(types)}",
        detail=f"expected {', '.join(want_types)}",
    )
    params, want_params = head.named_parameters(), want.named_parameters()
    asserts.assert_same_keys(params, want_params, where="parameters")
    for name, value in want_params.items():
        asserts.assert_tensor(params[name], shape=tuple(value.shape), where=f"parameter {name}")
    for name, child in head.children.items():
        _check_init(name, child)
    asserts.assert_close(actual["dropout"], expected["dropout"], where="dropout probabilities")
    asserts.assert_close(actual["output_shape"], expected["output_shape"], where="output shape")


def _check_init(name: str, layer: ModuleSummary) -> None:
    kind = layer.type_name.rsplit(".", 1)[-1]
    if kind == "Linear":
        weight, bias = layer.parameters["weight"], layer.parameters.get("bias")
        bound = (6 / weight.shape[1]) ** 0.5  # kaiming_uniform_ with a=0: sqrt(6 / fan_in)
        largest, spread = float(weight.abs().max()) / bound, float(weight.std()) * 3**0.5 / bound
        asserts.check(
            largest <= 1.0001,
            f"layer {name}: weights exceed He's uniform bound "
            f"sqrt(6/fan_in) (largest |w| is {largest:.2f} x the bound)",
        )
        asserts.check(
            abs(spread - 1) < 0.2,
            f"layer {name}: weight spread is {spread:.2f} x He's (use nn.init.kaiming_uniform_)",
        )
        asserts.check(bias is None or bool((bias == 0).all()), f"layer {name}: biases start at 0")
    elif kind == "BatchNorm1d":
        ones = bool((layer.parameters["weight"] == 1).all())
        zeros = bool((layer.parameters["bias"] == 0).all())
        asserts.check(ones and zeros, f"layer {name}: BatchNorm weight starts at 1, bias at 0")


head_case = family(
    "build_vgg16_head", head_inputs, call=head_call, compare=head_compare, points=2, timeout=20
)


# --- set_trainable -------------------------------------------------------------------------


def small_vgg() -> nn.Module:
    """A VGG-shaped network: ``features`` (two convolutions) and ``classifier`` (two Linear)."""
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    classifier = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    return nn.Sequential(
        OrderedDict(
            features=features,
            pool=nn.AdaptiveAvgPool2d(2),
            flatten=nn.Flatten(),
            classifier=classifier,
        )
    )


def trainable_inputs(workdir: Path, *, steps: list[tuple[Any, bool]], frozen: bool) -> Inputs:
    model = small_vgg()
    model.requires_grad_(not frozen)
    return {"model": model, "steps": steps}


def trainable_call(function, inputs: Inputs) -> Any:
    """Apply each ``(prefixes, trainable)`` step; the counts and the final flags."""
    model, counts = inputs["model"], []
    for prefixes, trainable in inputs["steps"]:
        try:
            counts.append(function(model, prefixes, trainable))
        except ValueError:
            counts.append("ValueError")
    flags = {name: bool(p.requires_grad) for name, p in model.named_parameters()}
    return {"changed": counts, "requires_grad": flags}


def trainable_compare(actual: Any, expected: Any, context: Context) -> None:
    """Which parameters require gradients afterwards, and the count returned by each call."""
    asserts.assert_close(actual["requires_grad"], expected["requires_grad"], where="requires_grad")
    asserts.assert_close(actual["changed"], expected["changed"], where="returned counts")


trainable_case = family(
    "set_trainable", trainable_inputs, call=trainable_call, compare=trainable_compare
)


# --- replace_last_linear -------------------------------------------------------------------


def convnext_like(seed: int, *, dtype: str, head: str) -> nn.Module:
    """A tiny ConvNeXt-shaped model: features, pooling, and a classifier ending in Linear."""
    torch.manual_seed(seed)
    classifier = nn.Sequential(nn.Flatten(), nn.LayerNorm(6), nn.Linear(6, 10))
    parts = OrderedDict(features=nn.Conv2d(3, 6, 3), avgpool=nn.AdaptiveAvgPool2d(1))
    if head == "classifier":
        parts["classifier"] = classifier
    else:
        parts["head"] = nn.Sequential(OrderedDict(norm=nn.Flatten(), fc=nn.Linear(6, 10)))
    return nn.Sequential(parts).to(getattr(torch, dtype))


def last_linear_inputs(
    workdir: Path, *, seed: int, num_classes: int, path: str | None = None, dtype: str = "float32"
) -> Inputs:
    head = "classifier" if path is None else path.split(".")[0]
    inputs = {"model": convnext_like(seed, dtype=dtype, head=head), "num_classes": num_classes}
    if path is not None:
        inputs["path"] = path
    return inputs


def last_linear_call(function, inputs: Inputs) -> Any:
    model = inputs["model"]
    options = {"path": inputs["path"]} if "path" in inputs else {}
    result = function(model, inputs["num_classes"], **options)
    return {"same_model": result is model, "model": model}


def last_linear_compare(actual: Any, expected: Any, context: Context) -> None:
    """A new Linear (same inputs, num_classes outputs, default init) at the path; rest intact."""
    original = context.inputs["model"]
    path = context.inputs.get("path", "classifier.2")
    model = module_of(actual["model"])
    asserts.check(actual["same_model"], "return the model you changed (the same object)")
    params = model.named_parameters()
    old = original.get_submodule(path)
    weight = params.get(f"{path}.weight")
    asserts.check(weight is not None, f"no Linear layer left at {path!r}")
    asserts.assert_tensor(
        weight,
        shape=(context.inputs["num_classes"], old.in_features),
        dtype=str(old.weight.dtype).removeprefix("torch."),
        where=f"{path}.weight",
    )
    asserts.check(
        (f"{path}.bias" in params) == (old.bias is not None),
        f"{path}: keep a bias exactly when the old layer had one",
    )
    bound = 1 / old.in_features**0.5  # nn.Linear's default initialisation
    asserts.check(
        float(weight.abs().max()) <= bound * 1.0001,
        f"{path}: the new weights are not nn.Linear's default initialisation",
    )
    for name, value in original.named_parameters():
        if not name.startswith(f"{path}."):
            asserts.assert_close(
                params.get(name),
                value.detach(),
                rtol=0,
                atol=0,
                where=f"parameter {name} (must not change)",
            )


last_linear_case = family(
    "replace_last_linear",
    last_linear_inputs,
    call=last_linear_call,
    compare=last_linear_compare,
    reference=False,
    timeout=20,
)
