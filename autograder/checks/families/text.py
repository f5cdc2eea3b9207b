"""Check families of the class-description helpers: masked mean pooling and K-Means clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autograder import asserts
from autograder.checks.common import close, family, generator, positional
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


def pool_zero_rows(actual: Any, expected: Any, context: Context) -> None:
    """Rows without any token give zeros, never NaN."""
    mask, states = context.inputs["attention_mask"], context.inputs["last_hidden_state"]
    asserts.assert_tensor(actual, shape=(states.shape[0], states.shape[2]))
    asserts.assert_finite(actual)
    empty = mask.sum(dim=1) == 0
    asserts.check(bool((actual[empty] == 0).all()), "rows without any token must be zeros")


pool_case = family(
    "mean_pool",
    pool_inputs,
    call=positional("last_hidden_state", "attention_mask"),
    compare=close(rtol=1e-5, atol=1e-6),
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
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(inputs["vectors"], inputs["names"], k=inputs["k"], seed=inputs["seed"])


cluster_case = family(
    "cluster_classes", cluster_inputs, call=cluster_call, compare=close(rtol=0, atol=0), timeout=30
)
