"""Helpers shared by the test suites: real peers (DCMTK, Orthanc, dicom3tools), ports, readiness."""
