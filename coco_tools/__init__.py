"""COCO-format tools: pseudo-label selection and merging, class-agnostic conversion, a JSON checker,
box-annotation parsing (VIA / COCO), Segment Anything glue and the COCO* merge and statistics.

Modules: `common` (shared helpers), `pseudo_labels` (post_process / merge_coco_and_imagenet),
`class_agnostic`, `checker`, `box_sources` (VIA and COCO box files), `sam_masks` (SAM prompted by boxes),
`coco_star` (merge extra labels into COCO, category statistics).
"""
