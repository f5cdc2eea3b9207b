"""Synthetic stand-ins for Tiny ImageNet and CACD, written in the exact real layouts.

Classes differ by content a network can learn (objects with exact boxes; faces that age), and
every file is a pure function of the seed, so two runs write byte-identical datasets.
"""

from course_lib.data.synthetic.faces import make_cacd
from course_lib.data.synthetic.objects import make_tiny_imagenet

__all__ = ["make_cacd", "make_tiny_imagenet"]
