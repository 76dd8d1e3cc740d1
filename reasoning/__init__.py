"""Stage 2 of unMORE: multi-object reasoning over boxes and object scoring.

The method: `proposals` (initial boxes), `crops` (pixel boxes, batched crop-and-resize), `predict` (the one
crop-and-predict path shared by reasoning, scoring and the oracle), `fields` (field analysis named after the
paper's steps), `boxes` (box geometry), `oracle` (exact fields from ground-truth masks), `algorithm`
(`ReasoningConfig`, center and boundary reasoning), `scoring` (`ScoringConfig`, masks and scores).
The jobs: `networks` (`PredictorConfig`, checkpoints or oracle), `stats` (crops and seconds around any
predictor), `images` (image lists, decoding), `results` (shard files, settings, merge), `runner`
(`JobConfig`, the per-image loop), `jobs` (the reasoning and scoring jobs), `vis` (overlays and GIFs),
`cli` (the two command lines, generated from the configs).
"""
