"""Ingest assets: one per landing stream, reading new files into `raw.*` and `audit.*`."""
# No `from __future__ import annotations` here: Dagster reads annotations at runtime.

import time

import dagster as dg

from orchestration.ingest.contract import STREAMS, Stream
from orchestration.ingest.loader import FileLoadResult, describe_results, load_stream
from orchestration.ingest.sources import load_source_configs
from orchestration.resources import WarehouseResource
from orchestration.settings import WAREHOUSE_POOL
from orchestration.steps import QUARANTINE_CHECK


def _files_table(results: list[FileLoadResult]) -> str:
    lines = [
        "| file | format | status | landed | loaded | rejected | skipped | warning |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.file_path} | {r.file_format} | {r.status} | {r.rows_landed} | {r.rows_accepted} | "
        f"{r.rows_rejected} | {r.rows_skipped} | {r.warning or ''} |"
        for r in results
        if r.status != "already_loaded"
    ]
    return "\n".join(lines)


def ingest_metadata(results: list[FileLoadResult], raw_rows: int, seconds: float) -> dict:
    new = [r for r in results if r.status != "already_loaded"]
    return {
        "files_seen": len(results),
        "files_new": len(new),
        "files_failed": sum(1 for r in new if r.status == "failed"),
        "files_quarantined": sum(1 for r in new if r.status == "quarantined"),
        "rows_landed": sum(r.rows_landed for r in new),
        "rows_loaded": sum(r.rows_accepted for r in new),
        "rows_rejected": sum(r.rows_rejected for r in new),
        "rows_skipped": sum(r.rows_skipped for r in new),
        "files_with_warnings": sum(1 for r in new if r.warning),
        "dagster/row_count": raw_rows,
        "elapsed_seconds": round(seconds, 3),
        "files": dg.MetadataValue.md(_files_table(results)),
    }


def quarantine_check(results: list[FileLoadResult]) -> dg.AssetCheckResult:
    """WARN when this run quarantined a file (unreadable: kept out whole, retried next run),
    naming each file and its reason."""
    quarantined = [r for r in results if r.status == "quarantined"]
    details = "\n".join(f"{r.file_path}: {r.warning}" for r in quarantined)
    return dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_files": len(quarantined),
            **({"details": dg.MetadataValue.text(details)} if quarantined else {}),
        },
    )


def build_ingest_asset(stream: Stream) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{stream.name}",
        group_name="raw",
        kinds={"duckdb", "postgres", "spark", "python"},
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=f"raw_{stream.name}",
                description=(
                    "No landing file of this run was quarantined (a file that cannot be read "
                    "at all is kept out whole, with its reason in audit.rejected_rows, and "
                    "read again on the next run). WARN: the other files still load."
                ),
            )
        ],
        description=(
            f"Landing files under <landing>/{stream.folder}/ (CSV, JSON Lines, Parquet) and the "
            "vendor exports of config/sources/*.yml (Qualtrics, Zendesk, mapped CSV) feeding "
            f"this stream, loaded into {stream.qualified_table}: every contract field as text "
            "plus lineage columns. "
            "Files already in audit.load_manifest (same content hash) are skipped; "
            "structurally bad records go to audit.rejected_rows with file, line and reason; "
            "a file that cannot be read at all is quarantined (check no_quarantined_files)."
        ),
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        started = time.perf_counter()
        # Read at run time, so an edited config applies to the next run without a reload;
        # an invalid one fails the step with the file and key named.
        sources = load_source_configs()
        with warehouse.ingesting() as (stage, sink):
            results = load_stream(stage, stream, warehouse.landing_path, sources, sink)
            raw_rows = sink.execute(f"select count(*) from {stream.qualified_table}")[0][0]
        for result in results:
            if result.rows_rejected or result.warning:
                context.log.warning(describe_results([result]).strip())
        context.log.info(describe_results(results) or f"no files under {stream.folder}/")
        metadata = ingest_metadata(results, raw_rows, time.perf_counter() - started)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            # The other files are committed; fail the step so the run says what went wrong.
            raise dg.Failure(
                description="could not load: " + describe_results(failed).strip(),
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata, check_results=[quarantine_check(results)])

    return _ingest


INGEST_ASSETS = [build_ingest_asset(stream) for stream in STREAMS.values()]
