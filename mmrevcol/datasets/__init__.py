"""Dataset helpers: deterministic toy data in real dataset layouts."""
from .toy import (CLASSES, DEFAULTS, IMAGENET_CLASSES, KINDS, PALETTE,
                  STUFF_CLASSES, THING_CLASSES, ToyScene, ade_metainfo,
                  atomic_output_dir, coco_annotations, coco_metainfo,
                  imagenet_metainfo, make_toy_data, mask_to_segmentation,
                  render_scene, toy_object_image, toy_scene)

__all__ = [
    'CLASSES', 'DEFAULTS', 'IMAGENET_CLASSES', 'KINDS', 'PALETTE',
    'STUFF_CLASSES', 'THING_CLASSES', 'ToyScene', 'ade_metainfo',
    'atomic_output_dir', 'coco_annotations', 'coco_metainfo',
    'imagenet_metainfo', 'make_toy_data', 'mask_to_segmentation',
    'render_scene', 'toy_object_image', 'toy_scene'
]
