"""Training loops on one engine (`training.engine`): stage 1 (`training.objectness`) and R-MONet / MONet
(`training.rmonet`), with the pieces they share (checkpoints, sampler, figures)."""
