"""Use cases: one module per transaction family; ports are passed in, the caller owns the transaction."""

__all__: list[str] = []
