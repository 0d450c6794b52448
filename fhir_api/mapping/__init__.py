"""XDS metadata <-> FHIR resources. ``codes``: code systems, identifiers and hashes, both ways; the resource
mappings build on it. Pure functions over the core model and JSON-shaped dicts (no I/O)."""
