"""Asset definitions: ingest (landing -> raw) and dbt (raw -> staging -> marts)."""
