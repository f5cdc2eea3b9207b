"""Figures of the course: grids, curves, heatmaps, embeddings, CAM panels."""
