"""PS3.15 Annex E de-identification: the profile engine, keyed pseudonyms and batch jobs.

Imports without torch or MONAI.
"""
