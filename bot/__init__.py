"""The user-facing layer: configuration, the command layer, the CLI (and, later, Telegram)."""
