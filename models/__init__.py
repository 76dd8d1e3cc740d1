"""Networks: stage-1 objectness/existence networks (`models.objectness_net`), dense backbones
(`models.backbones`), checkpoint helpers (`models.checkpoint`); other model families live in subpackages."""
