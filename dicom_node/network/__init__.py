"""DICOM networking: the receiving SCP, the sending SCU, and TLS contexts."""
