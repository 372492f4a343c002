"""The ``rds`` pipeline (research seed 003): neonatal chest radiograph lung segmentation and RDS
classification, with its phantom generator, training, evaluation and shipped demonstration bundle.

Modules: ``phantom`` / ``phantom_dicom`` (synthetic data), ``images`` / ``dataset`` (pixels and the
training folder), ``networks`` / ``bundle_io`` / ``model`` (MONAI networks and bundle), ``postprocess``
(median filter, rotation fallback, spine band), ``pipeline`` (the registered pipeline), ``params_model``
(its typed params, light), ``training`` / ``train`` / ``evaluate`` (``dicom-node train rds`` and
``dicom-node evaluate rds``), ``newborn`` (the age gate), ``orientation`` (patient sides from the
geometry), ``cxr_lungs`` / ``lung_training`` / ``evaluate_real`` / ``ship_lungs`` (the lung model trained
and measured on real radiographs).
"""

from __future__ import annotations
