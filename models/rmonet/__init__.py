"""R-MONet: region-based unsupervised scene decomposition (spatial attention network with an RPN and
ROI-masked segmentation heads, spatial-broadcast VAE, mixture likelihood), plus MONet-style baselines."""
