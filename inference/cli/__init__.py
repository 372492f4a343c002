"""Subcommands of ``dicom-node`` that belong to inference (imported lazily by the CLI)."""
