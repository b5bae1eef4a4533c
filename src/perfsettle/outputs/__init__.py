"""Rendering a close: CSVs and manifest, workbooks, statements and summary, messages, explain, the blank template."""
