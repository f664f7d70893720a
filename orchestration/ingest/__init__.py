"""Ingestion: landing files into the warehouse's raw and audit schemas."""
