"""Atopic dermatitis severity on skin photographs (seed paper 001): erythema, excoriation, lichenification.

``pipeline`` (the ``dermatitis`` pipeline), ``params_model`` (its typed params, light), ``train`` /
``evaluate`` (CLI subcommands), ``synthetic`` (the skin-texture generator behind the DEMONSTRATION weights
in ``bundle/``). Importing this package does not import torch.
"""
