"""Pure domain model of mcptasks: statuses, task records, owners and errors.

This package is the architecture, not the API: import from `mcptasks`. Nothing here does I/O or
imports another mcptasks package.
"""
