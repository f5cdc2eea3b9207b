"""Check families of model-building functions: the VGG16 head and freezing by name prefix."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autograder import asserts
from autograder.checks.common import all_of, family, generator, layer_types, module_of
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


def head_structure(actual: Any, expected: Any, context: Context) -> None:
    """Layers in the article's order, parameter shapes, dropout probabilities and output shape."""
    head = module_of(actual.get("head") if isinstance(actual, dict) else actual)
    want = expected["head"]
    types, want_types = layer_types(head), layer_types(want)
    asserts.require(
        types == want_types,
        f"layers: expected {len(want_types)} layers in the "
        f"article's order, got {len(types)}: {', '.join(types)}",
        detail=f"expected {', '.join(want_types)}",
    )
    # layers compared by position: the text fixes their order, not their names
    layers = zip(head.children.items(), want.children.values(), strict=True)
    for (name, layer), want_layer in layers:
        params, want_params = layer.named_parameters(), want_layer.named_parameters()
        asserts.assert_same_keys(params, want_params, where=f"parameters of layer {name}")
        for key, value in want_params.items():
            asserts.assert_tensor(
                params[key], shape=tuple(value.shape), where=f"parameter {name}.{key}"
            )
    asserts.assert_close(actual["dropout"], expected["dropout"], where="dropout probabilities")
    asserts.assert_close(actual["output_shape"], expected["output_shape"], where="output shape")


def head_init(actual: Any, expected: Any, context: Context) -> None:
    """He (kaiming-uniform) Linear weights, zero biases, and BatchNorm weight 1, bias 0."""
    head = module_of(actual.get("head") if isinstance(actual, dict) else actual)
    for name, child in head.children.items():
        _check_init(name, child)


def _check_init(name: str, layer: ModuleSummary) -> None:
    kind = layer.type_name.rsplit(".", 1)[-1]
    if kind == "Linear":
        weight, bias = layer.parameters["weight"], layer.parameters.get("bias")
        bound = (6 / weight.shape[1]) ** 0.5  # kaiming_uniform_ with a=0: sqrt(6 / fan_in)
        largest, spread = float(weight.abs().max()) / bound, float(weight.std()) * 3**0.5 / bound
        default = abs(spread - 6**-0.5) < 0.1  # nn.Linear's own init: bound 1/sqrt(fan_in)
        asserts.require(
            not default,
            f"layer {name}: the weights have nn.Linear's default initialisation "
            f"({spread:.2f} x He's spread): call nn.init.kaiming_uniform_ on them",
        )
        asserts.require(
            largest <= 1.0001,
            f"layer {name}: weights exceed He's uniform bound sqrt(6/fan_in) (largest |w| is "
            f"{largest:.2f} x the bound): use the uniform variant, nn.init.kaiming_uniform_",
        )
        asserts.require(
            abs(spread - 1) < 0.2,
            f"layer {name}: weight spread is {spread:.2f} x He's (use nn.init.kaiming_uniform_ "
            "with its default a=0 and mode='fan_in')",
        )
        asserts.require(
            bias is None or bool((bias == 0).all()),
            f"layer {name}: biases must start at 0 (nn.init.zeros_)",
        )
    elif kind == "BatchNorm1d":
        ones = bool((layer.parameters["weight"] == 1).all())
        zeros = bool((layer.parameters["bias"] == 0).all())
        asserts.require(ones and zeros, f"layer {name}: BatchNorm weight starts at 1, bias at 0")


head_case = family(
    "build_vgg16_head",
    head_inputs,
    call=head_call,
    compare=all_of(head_structure, head_init),
    points=2,
    timeout=20,
)


# --- set_trainable -------------------------------------------------------------------------


def small_vgg(*, aux: bool = False) -> nn.Module:
    """A VGG-shaped network: ``features`` (two convolutions) and ``classifier`` (two Linear);
    ``aux`` adds an ``aux_classifier``, whose names hold ``classifier`` in the middle."""
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    classifier = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    layers = OrderedDict(
        features=features, pool=nn.AdaptiveAvgPool2d(2), flatten=nn.Flatten(), classifier=classifier
    )
    if aux:
        layers["aux_classifier"] = nn.Linear(16, 3)
    return nn.Sequential(layers)


def trainable_inputs(
    workdir: Path, *, steps: list[tuple[Any, bool]], frozen: bool, aux: bool = False
) -> Inputs:
    model = small_vgg(aux=aux)
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
    flags, want = actual["requires_grad"], expected["requires_grad"]
    asserts.assert_same_keys(flags, want, where="requires_grad")
    wrong = [name for name in want if flags[name] != want[name]]
    inside = [name for name in wrong if _prefix_inside(name, context)]
    asserts.require(
        not inside,
        f"{len(inside)} parameters whose name holds a prefix in the middle (not at the start) "
        "were changed: test each name with str.startswith, not `prefix in name`",
    )
    asserts.require(
        not wrong,
        f"{len(wrong)} of {len(want)} parameters have the wrong requires_grad: set it on "
        "exactly the parameters whose name starts with a prefix (str.startswith)",
        detail=f"wrong: {wrong[:10]}",
    )
    counts = actual["changed"]
    asserts.require(
        isinstance(counts, list) and len(counts) == len(expected["changed"]),
        f"returned counts: got {asserts.describe(counts)}",
    )
    matched = _matched_counts(context)
    for index, (got, count) in enumerate(zip(counts, expected["changed"], strict=True)):
        if got == count:
            continue
        if count == "ValueError":
            asserts.fail(f"call {index + 1}: a prefix matching no parameter must raise ValueError")
        if got == matched[index]:
            asserts.fail(
                f"call {index + 1} returned {got!r}, the number of tensors its prefixes match: "
                "count only the tensors whose requires_grad actually changed"
            )
        asserts.fail(
            f"call {index + 1} returned {asserts.describe(got)} {got!r}: return how many "
            "parameter tensors changed",
            detail=f"expected {count!r}",
        )


def _prefixes(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _prefix_inside(name: str, context: Context) -> bool:
    """Whether a non-empty prefix of some step occurs in ``name`` other than at its start."""
    prefixes = [p for step, _ in context.inputs["steps"] for p in _prefixes(step) if p]
    return any(p in name and not name.startswith(p) for p in prefixes)


def _matched_counts(context: Context) -> list[int]:
    """For each step, how many parameter names start with one of its prefixes."""
    names = [name for name, _ in context.inputs["model"].named_parameters()]
    counts = []
    for prefixes, _ in context.inputs["steps"]:
        counts.append(sum(name.startswith(_prefixes(prefixes)) for name in names))
    return counts


trainable_case = family(
    "set_trainable", trainable_inputs, call=trainable_call, compare=trainable_compare
)


# --- replace_last_linear -------------------------------------------------------------------


def convnext_like(seed: int, *, dtype: str, head: str, bias: bool = True) -> nn.Module:
    """A tiny ConvNeXt-shaped model: features, pooling, and a classifier ending in Linear."""
    torch.manual_seed(seed)
    last = nn.Linear(6, 10, bias=bias)
    classifier = nn.Sequential(nn.Flatten(), nn.LayerNorm(6), last)
    parts = OrderedDict(features=nn.Conv2d(3, 6, 3), avgpool=nn.AdaptiveAvgPool2d(1))
    if head == "classifier":
        parts["classifier"] = classifier
    else:
        parts["head"] = nn.Sequential(OrderedDict(norm=nn.Flatten(), fc=last))
    return nn.Sequential(parts).to(getattr(torch, dtype))


def last_linear_inputs(
    workdir: Path,
    *,
    seed: int,
    num_classes: int,
    path: str | None = None,
    dtype: str = "float32",
    bias: bool = True,
) -> Inputs:
    head = "classifier" if path is None else path.split(".")[0]
    model = convnext_like(seed, dtype=dtype, head=head, bias=bias)
    inputs = {"model": model, "num_classes": num_classes}
    if path is not None:
        inputs["path"] = path
    return inputs


def last_linear_call(function, inputs: Inputs) -> Any:
    """The model after the call and whether it was returned, or the error raised."""
    model = inputs["model"]
    options = {"path": inputs["path"]} if "path" in inputs else {}
    try:
        result = function(model, inputs["num_classes"], **options)
    except Exception as error:  # named by the comparison, which knows where the Linear is
        return {"error": type(error).__name__, "message": str(error)[:300]}
    return {"same_model": result is model, "model": model}


def last_linear_compare(actual: Any, expected: Any, context: Context) -> None:
    """A new Linear (same inputs, num_classes outputs, default init) at the path; rest intact."""
    original = context.inputs["model"]
    path = context.inputs.get("path", "classifier.2")
    if "error" in actual:
        moved = "" if path == "classifier.2" else ": use the `path` argument, not ConvNeXt's layout"
        asserts.fail(
            f"raised {actual['error']} for a model whose Linear is at {path!r}{moved}",
            detail=actual["message"],
        )
    model = module_of(actual["model"])
    asserts.require(actual["same_model"], "return the model you changed (the same object)")
    params = model.named_parameters()
    old = original.get_submodule(path)
    weight = params.get(f"{path}.weight")
    asserts.require(weight is not None, f"no Linear layer left at {path!r}")
    asserts.assert_tensor(
        weight,
        shape=(context.inputs["num_classes"], old.in_features),
        dtype=str(old.weight.dtype).removeprefix("torch."),
        where=f"{path}.weight",
    )
    asserts.require(
        (f"{path}.bias" in params) == (old.bias is not None),
        f"{path}: keep a bias exactly when the old layer had one",
    )
    bound = 1 / old.in_features**0.5  # nn.Linear's default initialisation
    asserts.require(
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


def not_linear_compare(actual: Any, expected: Any, context: Context) -> None:
    """A module other than nn.Linear at the path raises a TypeError."""
    path = context.inputs["path"]
    kind = type(context.inputs["model"].get_submodule(path)).__name__
    asserts.require(
        isinstance(actual, dict) and actual.get("error") == "TypeError",
        f"the module at {path!r} is a {kind}, not an nn.Linear: raise TypeError instead of "
        "replacing it",
    )


last_linear_case = family(
    "replace_last_linear",
    last_linear_inputs,
    call=last_linear_call,
    compare=last_linear_compare,
    reference=False,
    timeout=20,
)
