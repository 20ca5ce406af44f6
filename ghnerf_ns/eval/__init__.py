"""Evaluation metrics of the ENeRF human protocol plus GHNeRF's heatmap and CSE errors."""
