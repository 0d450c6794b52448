"""Bearer JWTs (IHE IUA style, Pro Santé Connect claim names) -> ``AccessContext``, with python-jose.

python-jose checks ``exp``, ``aud`` and ``iss`` only when they are present, and accepts a token without
them by default (tests/identity/test_jwt.py proves it). This verifier therefore passes ``require_exp``,
``require_aud`` and ``require_iss``, an explicit audience and issuer, and an explicit list of asymmetric
algorithms: ``none`` and every HMAC algorithm are refused whatever the token header says, which closes the
"HS256 signed with the RSA public key as secret" confusion. ``exp``, ``nbf`` and ``iat`` must be JSON
numbers (python-jose reads ``"exp": "99999999999"`` as a number too). Who may be asserted is the issuer's
configuration, not the token's word: each ``TrustedIssuer`` lists the actor kinds it vouches for
(professionals only, unless configured), and a token whose ``actor`` claim names another kind fails.

Claims read (PSC userinfo names where they exist, docs/dmp-rules.md b):
    preferred_username (else sub)      national id (IDNPS) of a professional; a legal representative's INS
                                       (canonicalised like the patient claims: he is registered so)
    SubjectRefPro.exercices[0]         codeProfession, codeSavoirFaire, activities[0]: codeSecteurDactivite,
                                       codeGenreActivite, codeRole, ancienIdentifiantDeLaStructure
    Identifiant_Structure | SubjectOrganizationID   structure (overrides the activity's)
    Secteur_Activite                   ``SA07^1.2.250.1.71.4.2.4`` (overrides the activity's)
    Acces_Regulation_Medicale          ``VRAI`` -> regulation mode
    Mode_Acces | purpose_of_use        ``BRIS_DE_GLACE`` / ``CENTRE_DE_REGULATION`` / ``normal`` (ours / IUA)
    Mode_Acces_Raison                  the emergency reason
    patient                            the patient's INS (CX): the patient himself, or the request's patient
    actor                              ``professional`` (default), ``patient``, ``legal_representative``
    represented                        INS list a legal representative acts for (the represented minors)
    secret_connection                  a minor's secret connection (true/false)
    LPS_Nom, LPS_Version               the client software
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from jose import jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

from xds_server.core.policy import AccessContext, AccessMode, ActorKind
from xds_server.identity.errors import IdentityError
from xds_server.identity.saml import PURPOSES

#: Asymmetric JWS algorithms only: a public key must never double as an HMAC secret.
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


class Claim(StrEnum):
    NATIONAL_ID = "preferred_username"
    SUBJECT = "sub"
    SUBJECT_REF_PRO = "SubjectRefPro"
    STRUCTURE = "Identifiant_Structure"
    ORGANIZATION_ID = "SubjectOrganizationID"
    SECTEUR = "Secteur_Activite"
    REGULATION = "Acces_Regulation_Medicale"
    MODE = "Mode_Acces"
    PURPOSE_OF_USE = "purpose_of_use"
    REASON = "Mode_Acces_Raison"
    PATIENT = "patient"
    ACTOR = "actor"
    REPRESENTED = "represented"
    SECRET_CONNECTION = "secret_connection"
    LPS_NAME = "LPS_Nom"
    LPS_VERSION = "LPS_Version"
    GIVEN_NAME = "given_name"
    FAMILY_NAME = "family_name"


#: What an issuer vouches for when its configuration does not say: professionals (Pro Santé Connect).
PROFESSIONALS_ONLY: Final = frozenset({ActorKind.PROFESSIONAL})


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An issuer (``iss``), the public keys (PEM strings or JWK dicts) its tokens are signed with, and the
    actor kinds it may assert (a professional identity provider cannot mint patient tokens)."""

    issuer: str
    keys: tuple[str | Mapping[str, Any], ...]
    actor_kinds: frozenset[ActorKind] = PROFESSIONALS_ONLY


@dataclass(frozen=True, slots=True)
class JwtSettings:
    audience: str = "xds-server"
    algorithms: frozenset[str] = frozenset({"RS256", "PS256", "ES256"})
    leeway_seconds: int = 30
    require_structure: bool = True

    def __post_init__(self) -> None:
        unsafe = self.algorithms - ASYMMETRIC_ALGORITHMS
        if not self.algorithms or unsafe:
            raise ValueError(
                f"JWT algorithms must be asymmetric ({sorted(ASYMMETRIC_ALGORITHMS)}): {sorted(unsafe)}"
            )


@dataclass(slots=True)
class TokenVerifier:
    """Verifies bearer tokens against the issuers ``trusted`` returns (called per request: the dev
    authority created while the server runs is trusted without a restart)."""

    trusted: Callable[[], Sequence[TrustedIssuer]]
    settings: JwtSettings = field(default_factory=JwtSettings)
    #: ``core.identifiers.canonical_patient_id`` bound to the profile: the patient INS claims and a legal
    #: representative's own id in registry spelling
    canonical_patient: Callable[[str], str] | None = None

    def verify(self, token: str) -> AccessContext:
        claims, issuer = self._verified(token)
        ctx = context_from_claims(claims, require_structure=self.settings.require_structure)
        if ctx.actor_kind not in issuer.actor_kinds:
            raise IdentityError.failed(
                f"the issuer {issuer.issuer!r} may not assert a {ctx.actor_kind.value} "
                f"(it vouches for: {', '.join(sorted(k.value for k in issuer.actor_kinds))})"
            )
        canonical = self.canonical_patient
        if canonical is None:
            return ctx
        try:
            ctx = replace(
                ctx,
                patient_ins=canonical(ctx.patient_ins) if ctx.patient_ins else None,
                represented=frozenset(canonical(p) for p in ctx.represented),
            )
        except ValueError as error:
            raise IdentityError.invalid(f"the token's patient id is not acceptable: {error}") from None
        if ctx.actor_kind is not ActorKind.LEGAL_REPRESENTATIVE:
            return ctx
        # a legal representative is registered by his INS in canonical CX (``patients representative
        # --add``): the policy compares the token's subject with that list, so it is spelled alike
        try:
            return replace(ctx, national_id=canonical(ctx.national_id))
        except ValueError as error:
            raise IdentityError.invalid(
                f"the legal representative's id (preferred_username / sub) is not acceptable: {error}"
            ) from None

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims (signature, algorithm, exp, aud, iss all required and checked)."""
        return self._verified(token)[0]

    def _verified(self, token: str) -> tuple[dict[str, Any], TrustedIssuer]:
        try:
            unverified = jwt.get_unverified_claims(token)
        except JOSEError:
            raise IdentityError.invalid("the bearer token is not a JWT") from None
        for name in ("exp", "nbf", "iat"):
            value = unverified.get(name)
            if name in unverified and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise IdentityError.failed(f"the token's {name} claim must be a number (NumericDate)")
        issuer_name = unverified.get("iss")
        issuer = next((i for i in self.trusted() if i.issuer == issuer_name), None)
        if not isinstance(issuer_name, str) or issuer is None:
            raise IdentityError.failed("the token's issuer (iss) is missing or not trusted")
        options = {
            "require_exp": True,
            "require_aud": True,
            "require_iss": True,
            "leeway": self.settings.leeway_seconds,
        }
        failure = "the token's signature is not valid for the issuer's keys"
        for key in issuer.keys:
            try:
                decoded: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=sorted(self.settings.algorithms),
                    audience=self.settings.audience,
                    issuer=issuer.issuer,
                    options=options,
                )
                return decoded, issuer
            except ExpiredSignatureError:
                raise IdentityError.failed("the token has expired") from None
            except JWTClaimsError as error:
                raise IdentityError.failed(f"the token's claims are not acceptable: {error}") from None
            except JOSEError as error:
                # python-jose reports missing required claims and bad signatures alike (JWTError)
                failure = f"the token is not acceptable: {error}"
        raise IdentityError.failed(failure)


def _first(value: Any) -> Mapping[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _mode(claims: Mapping[str, Any]) -> AccessMode:
    declared = _text(claims.get(Claim.MODE)) or _text(claims.get(Claim.PURPOSE_OF_USE))
    if declared is not None:
        mode = PURPOSES.get(declared.lower())
        if mode is None:
            raise IdentityError.invalid(f"unknown access mode {declared!r}")
        return mode
    if (_text(claims.get(Claim.REGULATION)) or "").upper() == "VRAI":
        return AccessMode.REGULATION
    return AccessMode.NORMAL


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "vrai", "1"))


def context_from_claims(claims: Mapping[str, Any], *, require_structure: bool = True) -> AccessContext:
    """The AccessContext of verified claims (never call with unverified ones)."""
    national_id = _text(claims.get(Claim.NATIONAL_ID)) or _text(claims.get(Claim.SUBJECT))
    if national_id is None:
        raise IdentityError.invalid("the token names no subject (preferred_username / sub)")
    actor = _text(claims.get(Claim.ACTOR)) or ActorKind.PROFESSIONAL.value
    try:
        kind = ActorKind(actor)
    except ValueError:
        raise IdentityError.invalid(f"unknown actor {actor!r}") from None
    patient = _text(claims.get(Claim.PATIENT))
    common: dict[str, Any] = {
        "lps_name": _text(claims.get(Claim.LPS_NAME)),
        "lps_version": _text(claims.get(Claim.LPS_VERSION)),
        "issuer": _text(claims.get("iss")),
        "credential_id": _text(claims.get("jti")),
        "name": " ".join(
            filter(None, (_text(claims.get(Claim.GIVEN_NAME)), _text(claims.get(Claim.FAMILY_NAME))))
        )
        or None,
    }
    if kind is ActorKind.PATIENT:
        if patient is None:
            raise IdentityError.invalid("a patient token must carry the patient's INS (claim 'patient')")
        return AccessContext(kind, national_id, patient_ins=patient, **common)
    if kind is ActorKind.LEGAL_REPRESENTATIVE:
        represented = claims.get(Claim.REPRESENTED)
        if not isinstance(represented, list) or not represented:
            raise IdentityError.invalid("a legal representative's token must list the represented patients")
        return AccessContext(
            kind,
            national_id,
            patient_ins=patient,
            represented=frozenset(str(p) for p in represented),
            **common,
        )
    if kind is ActorKind.SYSTEM:
        return AccessContext(kind, national_id, patient_ins=patient, **common)
    exercice = _first(_mapping(claims.get(Claim.SUBJECT_REF_PRO)).get("exercices"))
    activity = _first(exercice.get("activities"))
    profession = _text(exercice.get("codeProfession"))
    role = _text(activity.get("codeRole"))
    if profession is None and role is None:
        raise IdentityError.invalid(
            "the token carries no profession (SubjectRefPro.exercices[].codeProfession)"
        )
    structure = (
        _text(claims.get(Claim.STRUCTURE))
        or _text(activity.get("ancienIdentifiantDeLaStructure"))
        or _text(claims.get(Claim.ORGANIZATION_ID))
    )
    if require_structure and structure is None:
        raise IdentityError.invalid("the token names no structure (Identifiant_Structure)")
    secteur = _text(claims.get(Claim.SECTEUR)) or _text(activity.get("codeSecteurDactivite"))
    return AccessContext(
        kind,
        national_id,
        profession=profession,
        savoir_faire=_text(exercice.get("codeSavoirFaire")),
        role=role,
        genre_activite=_text(activity.get("codeGenreActivite")),
        structure_id=structure,
        secteur=secteur.split("^", 1)[0] if secteur else None,
        access_mode=_mode(claims),
        reason=_text(claims.get(Claim.REASON)),
        patient_ins=patient,
        secret_connection=_flag(claims.get(Claim.SECRET_CONNECTION)),
        **common,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "PROFESSIONALS_ONLY",
    "Claim",
    "JwtSettings",
    "TokenVerifier",
    "TrustedIssuer",
    "context_from_claims",
]
