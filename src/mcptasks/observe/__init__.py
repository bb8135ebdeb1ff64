"""What operators see of a running mcptasks: log records that name their task (`logs`), metrics
(`metrics`) and one trace per task (`tracing`).
"""
