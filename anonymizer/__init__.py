"""PS3.15 Annex E de-identification: the profile engine, keyed pseudonyms and batch jobs.

Imports without torch or MONAI. Public surface (used by the node):

* :class:`anonymizer.engine.Anonymizer` -- ``Anonymizer(options, key)`` or
  ``Anonymizer.from_settings(ProfileSettings)``; ``anonymize(ds, in_place=False)`` returns an
  :class:`anonymizer.engine.AnonymizationResult` (``dataset``, ``actions`` counted by kind X/Z/D/U/U*/C/K,
  ``mappings`` pseudonym -> original, ``date_offset_days``). Reusable and thread-safe across datasets.
* :class:`anonymizer.errors.AnonymizationRefused` (``.reason``) -- burned-in PHI or recognizable features
  that no rule cleans; :class:`anonymizer.errors.AnonymizationError` -- bad options / key file. Both are
  :class:`dicom_node.errors.DicomNodeError`.
* :class:`anonymizer.reidentify.ReidentificationStore` (``record_result(result)``, ``original(kind, p)``)
  and :func:`anonymizer.reidentify.reidentify(ds, store)` for de-identified inference.
* :class:`anonymizer.options.Option` -- option names (snake or kebab case, or the standard's wording).
* :class:`anonymizer.raw_engine.RawAnonymizer` -- the same walk on a file's bytes (no decoding of values the
  action does not need; 5x+ faster than decode/encode through pydicom), used by the batch command and the
  node; :func:`anonymizer.raw_engine.anonymize_file_bytes` falls back to ``Anonymizer`` for the files it
  does not handle (big endian, deflated, pixel cleaning, ...). Both give the same result
  (``tests/anonymizer/test_raw_engine.py``).
* :func:`anonymizer.batch.run_batch` and :mod:`anonymizer.check` behind ``dicom-node anonymize``.
* :func:`anonymizer.check.verify_output` -- the residual-PHI check (rules in :mod:`anonymizer.residual`)
  run on every output before release: the batch quarantines an output with a finding, the node fails
  the job (fail closed).
* :mod:`anonymizer.pixel_clean` / :mod:`anonymizer.ocr` -- Clean Pixel Data: burned-in text found by
  Tesseract and per-device mask templates is blacked out; text the OCR cannot read is refused.
* The node's route (``anonymize: PROFILE`` forwarding, ``deidentify: PROFILE`` on pipeline rules) lives
  with the node, in :mod:`dicom_node.dispatch.anonymize_route`: it reads the profiles from the node's
  configuration and uses this library. A refused file, or an output with residual PHI, fails the whole
  job with a PipelineError (reason, no PHI). Details: ``docs/anonymizer.md``.
"""
