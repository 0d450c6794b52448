"""Settings: ``XDS_*`` environment variables, read once at start and passed down; CLI flags override them.

Defaults serve a single-machine install with nothing to configure: SQLite (WAL) and files under ``data_dir``.
Nothing here touches the disk or the database; ``app.py`` and ``cli.py`` turn settings into adapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from xds_server.core.policy import ActorKind
from xds_server.resources import profiles_dir

#: The audience (SAML AudienceRestriction, JWT ``aud``) this server answers to unless configured otherwise;
#: the dev authority's assertions and tokens name it.
DEFAULT_AUDIENCE = "xds-server"


def profile_names() -> list[str]:
    """The affinity-domain profiles shipped with the package (``profiles/<name>.toml``)."""
    return sorted(e.name.removesuffix(".toml") for e in profiles_dir().iterdir() if e.name.endswith(".toml"))


class JwtIssuer(BaseModel):
    """One trusted token issuer: its public key file and the actor kinds it may assert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: Path
    actors: tuple[str, ...] = (ActorKind.PROFESSIONAL.value,)

    @model_validator(mode="before")
    @classmethod
    def _bare_path(cls, value: object) -> object:
        return {"key": value} if isinstance(value, str | Path) else value

    @field_validator("actors")
    @classmethod
    def _known_actors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {kind.value for kind in ActorKind}
        unknown = sorted(set(value) - known)
        if unknown or not value:
            raise ValueError(f"actors must be some of {', '.join(sorted(known))}: {unknown or 'none given'}")
        return value


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
    #: Largest SOAP envelope held in memory: a plain ``application/soap+xml`` body (read whole, base64
    #: documents included) or the root part of an MTOM request; documents larger than this go as MTOM parts.
    max_envelope_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    #: Bounds of the metadata of one submission (ITI-41/42/57), checked before any work: registry objects,
    #: Slots on one object, Values in one Slot, bytes of metadata text (XDSRegistryMetadataError past them).
    max_metadata_objects: int = Field(default=10_000, gt=0)
    max_metadata_slots: int = Field(default=256, gt=0)
    max_metadata_values: int = Field(default=1_000, gt=0)
    max_metadata_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    #: Connection bounds of ``xds-server serve`` (transport.py): complete request headers within
    #: ``header_timeout`` s, a body byte at least every ``body_timeout`` s, at most ``max_connections`` open
    #: (``max_connections_per_client`` from one address) and ``requests_per_second`` started per address.
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=1000, gt=0)
    max_connections_per_client: int = Field(default=100, gt=0)
    requests_per_second: float = Field(default=500.0, ge=0)
    #: At start-up, staging files older than this many seconds are removed (left by a crashed process; a
    #: request in flight in another process writes its file continuously, so it stays younger).
    staging_sweep_age: float = Field(default=600.0, ge=0)
    #: Most MIME parts accepted in one MTOM request.
    max_parts: int = Field(default=1000, gt=0)
    #: Accept ITI-51 multi-patient queries (off by default: the DMP forbids cross-patient queries).
    multi_patient_query: bool = False
    #: Stored queries matching more objects than this fail with XDSTooManyResults.
    query_result_limit: int = Field(default=10000, gt=0)
    #: Python logging level of the server.
    log_level: str = "INFO"
    #: ``text`` (one readable line) or ``json`` (one JSON object per line); both carry the request id.
    log_format: Literal["text", "json"] = "text"
    #: ITI-62: days the document of a removed DocumentEntry stays in the blob store before ``xds-server gc``
    #: may collect it (no longer retrievable meanwhile: ITI-43 reads the registry).
    deleted_blob_retention_days: float = Field(default=30.0, ge=0)

    # -- identity and transport security (issue 7) ------------------------------------------------------
    #: ``on`` trusts the local test authority of ``data_dir`` (``xds-server dev authority init``), as
    #: ``serve --dev`` does: the certificate found there at start, never one that appears later. Off by
    #: default; refused by a production profile (``dmp``), whatever the setting.
    dev_authority: str = "off"
    #: PEM files of the certificates VIHF assertions may be signed with (comma-separated in the environment).
    trusted_certs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    #: PEM files of certificate authorities (the IGC-Santé hierarchy): a VIHF assertion signed by a
    #: certificate they issued (named in its KeyInfo) is accepted when that certificate names the claimed
    #: structure or professional; ``trusted_crls`` are their revocation lists (PEM or DER).
    trusted_cas: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    trusted_crls: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    #: Tolerance on the assertion's NotBefore / NotOnOrAfter, in seconds.
    saml_clock_skew: float = Field(default=60.0, ge=0)
    #: Accept every assertion once only (XUA allows reuse until expiry; OneTimeUse ones are always once).
    saml_strict_replay: bool = False
    #: When set, assertions must name it in Conditions/AudienceRestriction. The production profile (``dmp``)
    #: refuses to start without it (``app.refuse_missing_audience``); the DMP test profile checks
    #: ``DEFAULT_AUDIENCE``, the test authority's, when unset.
    saml_audience: str | None = None
    #: Longest assertion validity window accepted (NotBefore, or IssueInstant, to NotOnOrAfter), in seconds.
    saml_max_lifetime: float = Field(default=8 * 3600.0, gt=0)
    #: The ``aud`` bearer tokens must carry.
    jwt_audience: str = DEFAULT_AUDIENCE
    #: Trusted token issuers: ``iss`` -> PEM public key file, or ``{"key": file, "actors": [...]}`` naming the
    #: actor kinds the issuer may assert (``professional`` only by default; ``patient``,
    #: ``legal_representative``, ``system``). JSON object in the environment, for example
    #: ``{"https://auth.example.org": "/etc/xds/psc.pem", "https://patients.example.org":
    #: {"key": "/etc/xds/patients.pem", "actors": ["patient", "legal_representative"]}}``.
    jwt_issuers: dict[str, JwtIssuer] = Field(default_factory=dict)
    #: The absolute base URL of the FHIR face as clients reach it (behind a proxy), e.g.
    #: ``https://dmp.example.org/fhir``; empty: the request's own scheme, host and port + ``/fhir``.
    fhir_base_url: str | None = None
    #: ``ihe`` profile only: the actor unauthenticated requests run as (conformance-testing instances).
    anonymous_actor: str | None = None
    #: A professional may deposit only the document types the habilitation matrix lets him read.
    deposit_follows_matrix: bool = True
    #: HTTPS: server certificate and key (PEM); with ``tls_client_ca`` clients must present a certificate
    #: issued by one of its CAs.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    #: Access trail (issue 11): this server's name as the observer of its AuditEvents.
    audit_observer: str = "xds-server"
    #: ``system`` actors (token subjects) who may read every trace (comma-separated in the environment).
    auditors: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Patient notices by e-mail: the SMTP relay (no host: the dispatcher does not run), the sender, optional
    #: login and STARTTLS; how often the dispatcher inside ``serve`` polls the outbox (seconds).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_from: str = "dmp-notifications@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    notify_interval: float = Field(default=30.0, gt=0)
    #: Patient Identity Feed (ITI-8, HL7 v2 over MLLP): TCP port of the listener (off when unset; 0 picks a
    #: free port), on ``mllp_host``; TLS with the HTTPS certificate options when they are set.
    mllp_port: int | None = Field(default=None, ge=0, le=65535)
    mllp_host: str = "127.0.0.1"
    #: Largest HL7 message accepted on MLLP, in bytes (larger ones are answered AR and skipped).
    mllp_max_message_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    #: Seconds an MLLP connection may stay silent before the server closes it.
    mllp_idle_timeout: float = Field(default=600.0, gt=0)

    #: The patient's secure mailbox (issue 16): SMTP listener port of ``serve --smtp-port`` (off when unset;
    #: 0 picks a free port) on ``mailbox_smtp_host``; the patient domain (``<INS>@domain``); the reporting
    #: address of delivery reports (default ``postmaster@domain``); limits of one inbound message: size in
    #: bytes, number of attachments, accepted attachment media types (comma-separated in the environment).
    mailbox_smtp_port: int | None = Field(default=None, ge=0, le=65535)
    mailbox_smtp_host: str = "127.0.0.1"
    mailbox_domain: str = "patient.mssante.fr"
    mailbox_postmaster: str | None = None
    mailbox_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    mailbox_max_attachments: int = Field(default=10, ge=0)
    mailbox_attachment_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "application/pdf",
            "image/jpeg",
            "image/png",
            "text/plain",
            "text/xml",
            "application/xml",
            "application/hl7-cda+xml",
        ]
    )
    #: Seconds an SMTP client may stay silent before the listener closes the connection.
    mailbox_smtp_timeout: float = Field(default=300.0, gt=0)

    #: « Mon espace santé », the patient portal on ``/espace-sante/`` (issue 17). ``portal_secret`` signs
    #: its session cookies (empty: one generated at first start and kept in ``data_dir/portal-secret``);
    #: ``portal_session_hours``: how long a login lasts.
    portal_secret: str | None = None
    portal_session_hours: float = Field(default=8.0, gt=0)
    #: OpenID Connect login of patients (FranceConnect-style: authorisation code + PKCE). Shown when the
    #: issuer and client id are set: the issuer's ``/.well-known/openid-configuration`` gives the
    #: endpoints and the JWKS the id_token is verified against; ``oidc_redirect_uri`` is this server's
    #: ``https://HOST/espace-sante/connexion/retour`` as registered at the issuer (empty: derived from the
    #: request); ``oidc_ins_claim`` names the id_token claim holding the patient's INS.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_uri: str | None = None
    oidc_scope: str = "openid profile"
    oidc_ins_claim: str = "ins"

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        names = profile_names()
        if value not in names:
            raise ValueError(f"unknown profile {value!r}: expected one of {', '.join(names)}")
        return value

    @field_validator("dev_authority")
    @classmethod
    def _on_off(cls, value: str) -> str:
        normalised = value.strip().lower()
        if normalised not in ("on", "off"):
            raise ValueError(f"dev_authority must be on or off, not {value!r}")
        return normalised

    @field_validator(
        "trusted_certs", "trusted_cas", "trusted_crls", "auditors", "mailbox_attachment_types", mode="before"
    )
    @classmethod
    def _path_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "saml_audience",
        "anonymous_actor",
        "tls_cert",
        "tls_key",
        "tls_client_ca",
        "smtp_host",
        "smtp_user",
        "smtp_password",
        "mailbox_postmaster",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.anonymous_actor is not None and self.profile != "ihe":
            raise ValueError("anonymous_actor is only allowed with the ihe profile")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca needs tls_cert and tls_key")
        return self

    @property
    def mailbox_reporter(self) -> str:
        """The address delivery reports come from."""
        return self.mailbox_postmaster or f"postmaster@{self.mailbox_domain}"

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


__all__ = ["DEFAULT_AUDIENCE", "JwtIssuer", "Settings", "load_settings", "profile_names"]
