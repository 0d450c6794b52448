"""The pure domain core: metadata model, validation, submission semantics, stored queries, policy.

Nothing here performs I/O or imports a framework; adapters implement ``ports`` around it.
"""

__all__: list[str] = []
