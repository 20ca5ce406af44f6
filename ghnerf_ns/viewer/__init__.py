"""Viewer-facing helpers: output visualisations (and GUI controls)."""
