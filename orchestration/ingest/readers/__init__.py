"""One reader per landing format, behind one interface (`base.Reader`: plan, then stage).

- the landing contract's formats, chosen by file extension: `CONTRACT_READERS`;
- vendor formats, chosen by a source config's `format` (config/sources/*.yml):
  `VENDOR_READERS`, each reader parsing its own config keys.

A new vendor format is one module here with one reader class, registered below, and a
YAML config per export (docs/sources.md).
"""

from __future__ import annotations

from orchestration.ingest.readers.base import Reader, VendorReader
from orchestration.ingest.readers.contract_files import (
    ContractCsvReader,
    ContractJsonlReader,
    ContractParquetReader,
)
from orchestration.ingest.readers.mapped_csv import MappedCsvReader
from orchestration.ingest.readers.qualtrics import QualtricsReader
from orchestration.ingest.readers.zendesk import ZendeskReader

CONTRACT_READERS: dict[str, Reader] = {
    "csv": ContractCsvReader(),
    "jsonl": ContractJsonlReader(),
    "parquet": ContractParquetReader(),
}

VENDOR_READERS: dict[str, type[VendorReader]] = {
    reader.format: reader for reader in (MappedCsvReader, QualtricsReader, ZendeskReader)
}

__all__ = ["CONTRACT_READERS", "VENDOR_READERS", "Reader", "VendorReader"]
