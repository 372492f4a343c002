"""dicom-node: a DICOM node beside the PACS.

The ``dicom_node`` package holds the network, ledger, series completion, routing, dispatch and CLI.
It imports without torch or MONAI; everything model-related lives in the ``inference`` package and is
imported lazily, only where a pipeline actually runs.
"""

__version__ = "0.1.0"

# Our DICOM UID root for generated objects (UUID-derived 2.25 root; see PS3.5 B.2).
UID_ROOT = "2.25."
IMPLEMENTATION_NAME = "DICOM_NODE_010"
MANUFACTURER = "dicom-node"
IMPLEMENTATION_CLASS_UID = "2.25.288095489902363096969605672120416582074"
