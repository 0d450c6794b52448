"""IHE XDS.b registry and repository with the French DMP access rules."""

__version__ = "0.1.0"
__all__ = ["__version__"]
