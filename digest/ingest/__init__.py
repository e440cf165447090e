"""Ingest: sources → fetch → parse → normalise → enrich → de-duplicate → store.

One module per step; :mod:`digest.ingest.pipeline` is the one orchestrator that chains them.
Nothing here imports :mod:`digest.compose`.
"""
