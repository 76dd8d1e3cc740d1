"""Training loops: stage 1 (the modules here) and R-MONet / MONet (`training.rmonet`)."""
