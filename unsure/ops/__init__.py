"""Tensor operations shared by several layers (attribution methods and metrics alike)."""
