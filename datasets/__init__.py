"""Datasets: synthetic data generation, VoteCut preprocessing and the training/evaluation datasets."""
