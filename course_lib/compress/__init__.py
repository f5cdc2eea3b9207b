"""Tensor-train compression of Linear layers: ``TTLinear``, ``compress_model``, size reports.

* ``layer``: ``TTLinear`` (TT-matrix weight, core-by-core forward, ``from_linear``);
* ``pooled``: VGG16's first head layer decomposed on the 2048-d span of its pooled inputs;
* ``model``: ``compress_model`` and the parameter / state_dict size report.

The TT algorithms themselves (``tt_svd``, ``tt_matrix_forward``) are in ``course_lib.tt`` and
re-exported here.
"""

from course_lib.compress.layer import TTLinear
from course_lib.compress.model import (
    CompressionReport,
    LayerReport,
    compress_model,
    count_parameters,
    state_dict_bytes,
)
from course_lib.compress.pooled import (
    PooledInput,
    adaptive_pool_matrix,
    fold_pooling,
    tt_linear_on_pooled_inputs,
)
from course_lib.tt import tt_matrix_forward, tt_svd

__all__ = [
    "CompressionReport",
    "LayerReport",
    "PooledInput",
    "TTLinear",
    "adaptive_pool_matrix",
    "compress_model",
    "count_parameters",
    "fold_pooling",
    "state_dict_bytes",
    "tt_linear_on_pooled_inputs",
    "tt_matrix_forward",
    "tt_svd",
]
