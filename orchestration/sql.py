"""Quoting for SQL text the project builds itself (DuckDB and PostgreSQL quote alike)."""


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
