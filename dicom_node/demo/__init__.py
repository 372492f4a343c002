"""The demo: the whole flow on generated studies, with a small in-process PACS as the destination."""
