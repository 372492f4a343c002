"""Inference: series → volume, the pipeline contract on MONAI bundles, DICOM writers, training.

This package is the only one that imports torch / MONAI, and only inside the modules that need them.
"""
