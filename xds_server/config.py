"""Settings: ``XDS_*`` environment variables, read once at start and passed down; CLI flags override them.

Defaults serve a single-machine install with nothing to configure: SQLite (WAL) and files under ``data_dir``.
Nothing here touches the disk or the database; ``app.py`` and ``cli.py`` turn settings into adapters.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xds_server.resources import profiles_dir


def profile_names() -> list[str]:
    """The affinity-domain profiles shipped with the package (``profiles/<name>.toml``)."""
    return sorted(e.name.removesuffix(".toml") for e in profiles_dir().iterdir() if e.name.endswith(".toml"))


class Settings(BaseSettings):
    """Everything the server reads from its environment (prefix ``XDS_``)."""

    model_config = SettingsConfigDict(env_prefix="XDS_", frozen=True, extra="ignore")

    #: Where the embedded database and the document files live (created on first start).
    data_dir: Path = Path("xds-data")
    #: SQLAlchemy URL (``postgresql+psycopg://...``); empty means SQLite in ``data_dir``.
    database_url: str | None = None
    #: PostgreSQL schema to use (tests give each server its own); empty means the default search path.
    database_schema: str | None = None
    #: Affinity-domain profile: ``dmp`` (French DMP rules), ``dmp-test`` (the same, accepting the test INS
    #: authorities) or ``ihe`` (plain IHE, NIST / Connectathon data).
    profile: str = "dmp"
    #: repositoryUniqueId of this server's repository actor (ITI-41/43).
    repository_unique_id: str = "1.2.250.1.999.1.1.1"
    #: Document store URL (``file:///path``); empty means ``data_dir/blobs``.
    blob_store: str | None = None
    #: Largest request body accepted on the SOAP endpoints, in bytes.
    max_request_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    #: Most MIME parts accepted in one MTOM request.
    max_parts: int = Field(default=1000, gt=0)
    #: Accept ITI-51 multi-patient queries (off by default: the DMP forbids cross-patient queries).
    multi_patient_query: bool = False
    #: Stored queries matching more objects than this fail with XDSTooManyResults.
    query_result_limit: int = Field(default=10000, gt=0)
    #: Python logging level of the server.
    log_level: str = "INFO"
    #: ITI-62: days the document of a removed DocumentEntry stays in the blob store before ``xds-server gc``
    #: may collect it (no longer retrievable meanwhile: ITI-43 reads the registry).
    deleted_blob_retention_days: float = Field(default=30.0, ge=0)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        names = profile_names()
        if value not in names:
            raise ValueError(f"unknown profile {value!r}: expected one of {', '.join(names)}")
        return value

    @property
    def blob_dir(self) -> Path:
        """The default document store folder (used when ``blob_store`` is not set)."""
        return self.data_dir / "blobs"

    @property
    def database_backend(self) -> str:
        """``sqlite`` or the dialect of ``database_url`` (``postgresql`` ...), for /health and logs."""
        if not self.database_url:
            return "sqlite"
        return self.database_url.split(":", 1)[0].split("+", 1)[0]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with the given (non-None) values on top (CLI flags)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]


__all__ = ["Settings", "load_settings", "profile_names"]
