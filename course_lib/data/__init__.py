"""Datasets, splits, transforms and the decoded fast path.

``synthetic`` and ``cacd`` are imported from their modules (they pull in scipy, h5py, pandas).
"""

from course_lib.data.cache import CachedLoader, ImageCache, build_cache, load_cache
from course_lib.data.splits import (
    TransformedSubset,
    random_split_indices,
    split_dataset,
    stratified_split_indices,
)
from course_lib.data.tiny_imagenet import (
    ClassMaps,
    TinyImageNet,
    class_name_maps,
    load_rgb,
    load_val_labels,
    pick_per_class,
    read_class_maps,
    read_train_boxes,
    read_val_annotations,
    read_wnids,
    read_words,
)
from course_lib.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    augment_batch,
    denormalize,
    normalize_batch,
    train_transform,
    val_transform,
)
from course_lib.data.verify import VerifyReport, verify_tiny_imagenet

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AugmentConfig",
    "CachedLoader",
    "ClassMaps",
    "ImageCache",
    "TinyImageNet",
    "TransformedSubset",
    "VerifyReport",
    "augment_batch",
    "build_cache",
    "class_name_maps",
    "denormalize",
    "load_cache",
    "load_rgb",
    "load_val_labels",
    "normalize_batch",
    "pick_per_class",
    "random_split_indices",
    "read_class_maps",
    "read_train_boxes",
    "read_val_annotations",
    "read_wnids",
    "read_words",
    "split_dataset",
    "stratified_split_indices",
    "train_transform",
    "val_transform",
    "verify_tiny_imagenet",
]
