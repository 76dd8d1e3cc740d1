"""Stage 2 of unMORE: multi-object reasoning over boxes and object scoring.

Modules: `proposals` (initial boxes), `crops` (batched crop-and-resize), `predict` (the one crop-and-predict
path shared by reasoning, scoring and the oracle), `fields` (field analysis: masks, anti-center map, edge
movements, connected components), `oracle` (exact fields from ground-truth masks), `algorithm` (center and
boundary reasoning), `scoring` (masks and scores), `runner` (image lists, sharding, resume, merge),
`vis` (overlays and GIFs), `cli` (the two command lines).
"""
