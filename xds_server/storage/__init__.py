"""SQLAlchemy storage of the registry, patients and blobs."""

__all__: list[str] = []
