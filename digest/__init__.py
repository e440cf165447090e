"""Ingest and digest pipeline: fetch, parse, normalise, enrich, de-duplicate, compose."""
