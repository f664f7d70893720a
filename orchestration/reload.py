"""`ces reload`: read landing files already loaded again, after their source config, date
format or delimiter was corrected, replacing their earlier rows.

A file whose content was loaded is never read again by `ces build` (the content hash is
in audit.load_manifest), so a fix to its config would never reach it. A reload reads each
named file again, and in that file's transaction deletes the raw rows, rejects and
manifest record of its earlier load of the same content and writes the new ones: a reader
sees the old rows or the new, never both or neither. The build that follows rebuilds every
incremental model (`--full-refresh`): the old rows may have had other keys (a corrected
`response_id` mapping), and an incremental run would keep their answers.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.ingest.contract import STREAMS
from orchestration.ingest.loader import FileLoadResult, load_stream
from orchestration.ingest.sources import SourceConfig, load_source_configs
from orchestration.settings import Settings


class ReloadError(ValueError):
    """What to reload cannot be resolved (a file outside the landing folder, one no stream
    reads, an unknown source config)."""


def reload_landing_files(
    settings: Settings, paths: list[str], source: str | None
) -> list[FileLoadResult]:
    """Reload `paths` and every file of the source config `source` (files_to_reload)."""
    sources = load_source_configs()
    return reload_files(settings, files_to_reload(settings, paths, source, sources), sources)


def files_to_reload(
    settings: Settings, paths: list[str], source: str | None, sources: list[SourceConfig]
) -> list[str]:
    """The landing files to reload, relative to the landing folder: each of `paths`
    (relative to the landing folder or to the working directory), and every file the
    source config `source` reads."""
    landing = settings.landing_dir.resolve()
    chosen: list[str] = []
    for given in paths:
        candidates = [Path(given), landing / given]
        path = next((p.resolve() for p in candidates if p.is_file()), None)
        if path is None:
            raise ReloadError(f"{given}: no such file (give it relative to {landing})")
        if not path.is_relative_to(landing):
            raise ReloadError(f"{given}: not under the landing folder {landing}")
        relative = path.relative_to(landing).as_posix()
        in_stream_folder = relative.split("/", 1)[0] in {s.folder for s in STREAMS.values()}
        if not in_stream_folder and not any(path in s.matches(landing) for s in sources):
            raise ReloadError(
                f"{relative}: no stream folder holds it and no source config reads it"
            )
        chosen.append(relative)
    if source is not None:
        names = {s.name: s for s in sources}
        if source not in names:
            raise ReloadError(
                f"--source {source}: no config/sources/{source}.yml (configs: "
                f"{', '.join(sorted(names)) or 'none'})"
            )
        matched = names[source].matches(landing)
        if not matched:
            raise ReloadError(f"--source {source}: no landing file matches {names[source].files}")
        chosen += [p.relative_to(landing).as_posix() for p in matched]
    if not chosen:
        raise ReloadError("name the files to reload, or --source NAME")
    return sorted(set(chosen))


def reload_files(
    settings: Settings, relative_paths: list[str], sources: list[SourceConfig]
) -> list[FileLoadResult]:
    """Read the files again into every stream that reads them, each in one transaction
    replacing its earlier load."""
    from orchestration.engines import engine_for

    settings.export_env()
    results: list[FileLoadResult] = []
    with engine_for(settings).ingesting() as (conn, sink):
        for stream in STREAMS.values():
            results += load_stream(
                conn, stream, settings.landing_dir, sources, sink, reload=relative_paths
            )
    return results
