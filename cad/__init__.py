"""Class-agnostic detector (CAD): Cascade Mask R-CNN with the CutLER/unMORE recipe on torchvision primitives.

Keeps Detectron2's interfaces (YAML config keys, module/parameter names, checkpoint formats) so Detectron2
checkpoints such as the released ``unMORE_model.pth`` load without renaming. Sub-packages:
``cad.config`` (CfgNode, defaults), ``cad.structures`` (Boxes, Instances), ``cad.modeling`` (the model),
``cad.checkpoint`` (Detectron2 ``.pth``/``.pkl`` loading and export).
"""
