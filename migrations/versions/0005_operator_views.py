"""operator views: v_tasks, v_pending_inputs, v_task_history

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Three read-only views for the operator who queries the database with SQL (`mcptasks db sql`, psql,
sqlite3). Same names, same columns, same meaning on SQLite and PostgreSQL; only the SQL text of the
time arithmetic and the JSON access differs per dialect. The server never reads them.

- `v_tasks`: one row per task with its owner columns, timing (`finished_at`, `duration_ms`) and a
  summary of its outcome (`error_code`, `error_message`, `result_is_error`, `result_text`).
- `v_pending_inputs`: the unanswered questions (elicitation, sampling) of active tasks, with the
  task, its owner, the method, the question's text and its age in ms.
- `v_task_history`: the status changes of each task (`step` 1, 2, ... in order) with the task's
  tool and owner.

Durations and ages are integer milliseconds. On SQLite timestamps read as the stored UTC text
(`YYYY-MM-DD HH:MM:SS.ffffff`) and booleans as 0/1; on PostgreSQL as `timestamptz` and `boolean`.

A LATER MIGRATION THAT REBUILDS `tasks`, `task_results`, `task_input_requests` or `task_events`
(a SQLite batch operation: create a copy, DROP the table, RENAME the copy) must drop these views
first and create them again afterwards: SQLite re-checks every view when a table is renamed and
refuses the RENAME of a view's table that was dropped ("error in view v_tasks: no such table").
PostgreSQL refuses to DROP a table a view depends on. `drop_views()` and `create_views()` of this
module are meant for that, reached through alembic's script directory::

    from alembic import context

    views = context.script.get_revision("0005").module
    views.drop_views()
    with op.batch_alter_table("tasks", recreate="always") as batch: ...
    views.create_views()

A migration that changes a view's definition replaces these functions for the migrations after it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The views this migration creates, in creation order (dropped in reverse).
VIEWS = ("v_tasks", "v_pending_inputs", "v_task_history")

_TERMINAL = "('completed', 'failed', 'cancelled')"
_ACTIVE = "('working', 'input_required')"

# Per dialect: milliseconds between two timestamp expressions (`{start}`, `{end}`), the current
# time, and JSON access (`{doc}`, a JSON path given per use).
_SQLITE = {
    "ms": "CAST(ROUND((julianday({end}) - julianday({start})) * 86400000.0) AS INTEGER)",
    "now": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    "error_code": "CAST(json_extract(r.error, '$.code') AS INTEGER)",
    "error_message": "json_extract(r.error, '$.message')",
    "result_is_error": "CASE WHEN r.result IS NULL THEN NULL "
    "WHEN json_extract(r.result, '$.isError') = 1 THEN 1 ELSE 0 END",
    "result_text": "substr(json_extract(r.result, '$.content[0].text'), 1, 200)",
    "question": "substr(COALESCE(json_extract(i.params, '$.message'), "
    "json_extract(i.params, '$.messages[0].content.text')), 1, 200)",
}
_POSTGRES = {
    "ms": "CAST(ROUND(EXTRACT(EPOCH FROM ({end} - {start})) * 1000) AS BIGINT)",
    "now": "now()",
    "error_code": "CAST(r.error ->> 'code' AS INTEGER)",
    "error_message": "r.error ->> 'message'",
    "result_is_error": "CASE WHEN r.result IS NULL THEN NULL "
    "ELSE COALESCE(CAST(r.result ->> 'isError' AS BOOLEAN), FALSE) END",
    "result_text": "substr(r.result -> 'content' -> 0 ->> 'text', 1, 200)",
    "question": "substr(COALESCE(i.params ->> 'message', "
    "i.params -> 'messages' -> 0 -> 'content' ->> 'text'), 1, 200)",
}

_OWNER = "t.owner_kind, t.owner_key, t.owner_issuer, t.owner_subject, t.owner_client_id"


def _definitions(dialect: str) -> dict[str, str]:
    """The SELECT of each view for `dialect` ("sqlite" or "postgresql")."""
    sql = _SQLITE if dialect == "sqlite" else _POSTGRES
    # A terminal task ended when its outcome was stored (a cancel stores none); an active one runs on.
    ended = "COALESCE(r.stored_at, t.last_updated_at)"
    finished = f"CASE WHEN t.status IN {_TERMINAL} THEN {ended} END"
    until = f"CASE WHEN t.status IN {_TERMINAL} THEN {ended} ELSE {sql['now']} END"
    duration = sql["ms"].format(start="t.created_at", end=until)
    age = sql["ms"].format(start="i.created_at", end=sql["now"])
    since_created = sql["ms"].format(start="t.created_at", end="e.at")
    return {
        "v_tasks": f"""
SELECT t.task_id, {_OWNER},
       t.wire, t.tool_name, t.status, t.status_message,
       t.created_at, t.last_updated_at, {finished} AS finished_at, {duration} AS duration_ms,
       t.expires_at, t.attempt, t.lease_node,
       {sql["error_code"]} AS error_code, {sql["error_message"]} AS error_message,
       {sql["result_is_error"]} AS result_is_error, {sql["result_text"]} AS result_text
FROM tasks AS t
LEFT JOIN task_results AS r ON r.task_id = t.task_id""",
        "v_pending_inputs": f"""
SELECT i.task_id, i.request_key, i.method, {sql["question"]} AS question,
       i.created_at AS asked_at, {age} AS age_ms,
       t.status, t.tool_name, {_OWNER}
FROM task_input_requests AS i
JOIN tasks AS t ON t.task_id = i.task_id
WHERE i.answered_at IS NULL AND t.status IN {_ACTIVE}""",
        "v_task_history": f"""
SELECT e.task_id, ROW_NUMBER() OVER (PARTITION BY e.task_id ORDER BY e.event_id) AS step,
       e.event_id, e.at, {since_created} AS ms_since_created,
       e.from_status, e.to_status, e.message, e.attempt, e.node,
       t.tool_name, t.wire, {_OWNER}
FROM task_events AS e
JOIN tasks AS t ON t.task_id = e.task_id""",
    }


def _dialect() -> str:
    # get_context() also works offline (`--sql`), where there is no bind.
    return str(op.get_context().dialect.name)


def create_views() -> None:
    """Create the three operator views with the SQL of the current dialect."""
    for name, select in _definitions(_dialect()).items():
        op.execute(f"CREATE VIEW {name} AS{select}")


def drop_views() -> None:
    """Drop the three operator views (those that exist)."""
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    """Create `v_tasks`, `v_pending_inputs` and `v_task_history`."""
    create_views()


def downgrade() -> None:
    """Drop the three views."""
    drop_views()
