"""SQL storage of tasks: tables, engines, migrations and the owner-scoped statements.

This package is the architecture, not the API. Nothing outside it writes SQL; every statement that
touches a task on behalf of a client takes an `Owner`.
"""
