"""Jobs: the whole graph, landing files to marts, as one run."""

import dagster as dg

ces_daily_build = dg.define_asset_job(
    name="ces_daily_build",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, then build and test every dbt model.",
)
