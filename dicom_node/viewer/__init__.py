"""OHIF Viewer 3.13.2 on loopback: nginx serves the prebuilt site and proxies DICOMweb to an Orthanc.

``OhifServer`` starts both as child processes on free (or given) loopback ports and uploads DICOM
files; ``dicom-node viewer`` and the viewer tests use it. The OHIF site itself is not in the repository:
``make ohif`` fetches it (``npm pack @ohif/app@3.13.2``) into ``.ohif/dist``. See docs/viewer.md.
"""

from dicom_node.viewer.server import OHIF_VERSION, OhifServer, ViewerError, find_dist

__all__ = ["OHIF_VERSION", "OhifServer", "ViewerError", "find_dist"]
