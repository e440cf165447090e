"""Compose: the stored stories of a window → ranked → key points → template sections →
numbered, checked citations → rendered text.

:mod:`digest.compose.composer` is the one orchestrator; :mod:`digest.compose.model` is the
digest as plain data. Nothing here imports :mod:`digest.ingest`.
"""
