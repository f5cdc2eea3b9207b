"""Check families of the class-description helpers: masked mean pooling and K-Means clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autograder import asserts
from autograder.checks.common import all_of, close, family, generator, positional
from autograder.spec import Context, Inputs

# --- mean_pool -----------------------------------------------------------------------------


def pool_inputs(
    workdir: Path,
    *,
    seed: int,
    lengths: list[int],
    tokens: int = 6,
    hidden: int = 4,
    mask_dtype: str = "int64",
    dtype: str = "float32",
) -> Inputs:
    """Token vectors (B, T, H) and a mask with the first ``lengths[b]`` tokens of row b on."""
    g = generator(seed)
    states = torch.randn(len(lengths), tokens, hidden, generator=g).to(getattr(torch, dtype))
    mask = (torch.arange(tokens)[None, :] < torch.tensor(lengths)[:, None]).to(
        getattr(torch, mask_dtype)
    )
    return {"last_hidden_state": states, "attention_mask": mask}


def pool_shape(actual: Any, expected: Any, context: Context) -> None:
    """A (B, H) tensor in the dtype of the token vectors, without NaN, padding left out."""
    mask, states = context.inputs["attention_mask"], context.inputs["last_hidden_state"]
    asserts.assert_tensor(actual, shape=(states.shape[0], states.shape[2]))
    asserts.require(
        actual.dtype == states.dtype,
        f"expected dtype {str(states.dtype).removeprefix('torch.')} (that of "
        f"last_hidden_state), got {str(actual.dtype).removeprefix('torch.')}",
    )
    asserts.require(
        not bool(actual.isnan().any()),
        "NaN in the output: a row without tokens divides 0 by 0; clamp the token count to 1",
    )
    full = mask.sum(dim=1) == mask.shape[1]
    plain = states.mean(dim=1)
    padded = ~full & (mask.sum(dim=1) > 0)
    asserts.require(
        not (padded.any() and torch.allclose(actual[padded].double(), plain[padded].double())),
        "padding tokens were averaged in: multiply by the mask before summing over the tokens "
        "and divide by the number of tokens the mask keeps",
    )


def pool_zero_rows(actual: Any, expected: Any, context: Context) -> None:
    """Rows without any token give zeros, never NaN."""
    pool_shape(actual, expected, context)
    empty = context.inputs["attention_mask"].sum(dim=1) == 0
    asserts.require(bool((actual[empty] == 0).all()), "rows without any token must be zeros")


def pool_divisor(actual: Any, expected: Any, context: Context) -> None:
    """The masked sum is divided by the number of real tokens, not by T."""
    mask, states = context.inputs["attention_mask"], context.inputs["last_hidden_state"]
    summed = (states * mask.unsqueeze(-1).to(states.dtype)).sum(dim=1)  # (B, H)
    padded = (mask.sum(dim=1) > 0) & (mask.sum(dim=1) < mask.shape[1])
    by_t = summed / mask.shape[1]
    asserts.require(
        not (
            padded.any()
            and torch.allclose(actual[padded].double(), by_t[padded].double(), rtol=1e-5)
        ),
        "divide by the number of real tokens (mask.sum), not by T",
    )


pool_case = family(
    "mean_pool",
    pool_inputs,
    call=positional("last_hidden_state", "attention_mask"),
    compare=all_of(pool_shape, pool_divisor, close(rtol=1e-5, atol=1e-6)),
)


# --- cluster_classes -----------------------------------------------------------------------


def cluster_inputs(workdir: Path, *, seed: int, groups: list[int], k: int) -> Inputs:
    """Well separated blobs: ``groups[i]`` names around centre i, shuffled."""
    g = generator(seed)
    centres = torch.randn(len(groups), 8, generator=g) * 20
    rows = [
        (centres[i] + torch.randn(8, generator=g) * 0.1, i)
        for i, n in enumerate(groups)
        for _ in range(n)
    ]
    order = torch.randperm(len(rows), generator=g).tolist()
    vectors = torch.stack([rows[i][0] for i in order]).numpy()
    names = [f"class{i:02d}_{rows[i][1]}" for i in order]
    return {"vectors": vectors, "names": names, "k": k, "seed": seed}


def cluster_call(function, inputs: Inputs) -> Any:
    """The clusters, and whether the call warned."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clusters = function(inputs["vectors"], inputs["names"], k=inputs["k"], seed=inputs["seed"])
    return {"clusters": clusters, "warned": bool(caught)}


def cluster_structure(actual: Any, expected: Any, context: Context) -> None:
    """A dict cluster -> names with every name once, numbered 0, 1, ... by first appearance."""
    names, k = context.inputs["names"], context.inputs["k"]
    clusters = actual["clusters"]
    asserts.require(
        isinstance(clusters, dict), f"expected a dict, got {asserts.describe(clusters)}"
    )
    asserts.require(
        all(isinstance(c, int) and isinstance(v, list) for c, v in clusters.items()),
        "expected int cluster numbers and a list of names for each",
    )
    listed = [name for members in clusters.values() for name in members]
    asserts.require(
        sorted(listed) == sorted(names), "every name must appear in exactly one cluster, once"
    )
    asserts.require(
        len(clusters) <= min(k, len(names)), f"{len(clusters)} clusters for k={k}: at most k"
    )
    first = {cluster: min(names.index(n) for n in members) for cluster, members in clusters.items()}
    asserts.require(
        sorted(first, key=first.get) == list(range(len(clusters))),
        "clusters are not numbered 0, 1, ... in the order their first name appears in names: "
        "renumber K-Means's labels",
    )
    asserts.require(
        all(members == sorted(members, key=names.index) for members in clusters.values()),
        "names inside a cluster must keep their order in names",
    )
    if k > len(names):
        asserts.require(
            actual["warned"],
            f"k={k} is above the {len(names)} names: lower k to {len(names)} with a warning "
            "(warnings.warn)",
        )


def cluster_values(actual: Any, expected: Any, context: Context) -> None:
    """The same clusters as K-Means with the given k, n_init=10 and random_state=seed."""
    asserts.assert_close(actual["clusters"], expected["clusters"], rtol=0, atol=0)


cluster_case = family(
    "cluster_classes",
    cluster_inputs,
    call=cluster_call,
    compare=all_of(cluster_structure, cluster_values),
    timeout=30,
)
