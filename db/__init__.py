"""Data layer: migrations and one async function per query, returning typed records."""
