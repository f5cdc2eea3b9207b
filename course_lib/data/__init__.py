"""Datasets, splits, transforms and the decoded fast path, one module each.

* ``tiny_imagenet``: the Tiny ImageNet layout, class maps, the val labels, ``TinyImageNet``;
* ``splits``: seeded index splits and ``TransformedSubset``;
* ``transforms``: the augmentation recipe, per image (torchvision v2) and per batch of tensors;
* ``cache``: the split decoded once into a memory-mapped uint8 cache, and ``CachedLoader``;
* ``verify``: the checks of a Tiny ImageNet folder;
* ``cacd``: the CACD metadata (.mat v5 and v7.3) and its age groups;
* ``synthetic``: stand-ins for both datasets in their exact layouts.

Import from the module: this package imports none of them, so that reading a ``.mat`` file
does not load torchvision (a second or more).
"""
