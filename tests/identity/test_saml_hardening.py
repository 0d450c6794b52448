"""SAML hardening (issue 14, item 3), from the attacker's side: a long-lived or back-dated assertion, one
without an audience in the DMP profiles, and a OneTimeUse assertion replayed after a restart or to another
server process are all refused."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree

from xds_server.identity.dev_authority import DevAuthority, build_assertion, sign_assertion
from xds_server.identity.errors import WsseFault
from xds_server.identity.saml import AssertionVerifier, SamlSettings
from xds_server.storage.database import Database
from xds_server.storage.replay import SqlReplayCache

from .conftest import NOW
from .test_saml import IDENTITY, header, refused, signed


def minted(authority: DevAuthority, **kw: object) -> etree._Element:
    assertion = build_assertion(IDENTITY, now=kw.pop("now", NOW), **kw)  # type: ignore[arg-type]
    return sign_assertion(assertion, authority.key, authority.certificate)


def with_issue_instant(authority: DevAuthority, instant: str | None) -> etree._Element:
    assertion = build_assertion(IDENTITY, now=NOW)
    if instant is None:
        del assertion.attrib["IssueInstant"]
    else:
        assertion.set("IssueInstant", instant)
    return sign_assertion(assertion, authority.key, authority.certificate)


class TestLifetime:
    def test_a_hundred_year_assertion_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        forever = minted(authority, ttl=timedelta(days=36_500))
        error = refused(verifier, [header(forever)])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "longer than 8 h" in error.message

    def test_eight_hours_is_the_default_cap(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        verifier.verify_security_header([header(minted(authority, ttl=timedelta(hours=8)))])
        assert (
            "longer than"
            in refused(verifier, [header(minted(authority, ttl=timedelta(hours=8, seconds=1)))]).message
        )

    def test_the_cap_is_a_setting(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority
    ) -> None:
        short = make_verifier(settings=SamlSettings(max_lifetime=timedelta(minutes=10)))
        assert "longer than" in refused(short, [header(minted(authority, ttl=timedelta(minutes=30)))]).message


class TestIssueInstant:
    @pytest.mark.parametrize(
        ("instant", "why"),
        [
            ("2026-11-27T12:45:00Z", "issued after it stops being valid"),
            ("2026-11-27T13:00:00Z", "issued in the future"),
            ("2026-11-20T12:00:00Z", "issued a week before its window"),
        ],
    )
    def test_outside_the_window_is_refused(
        self, verifier: AssertionVerifier, authority: DevAuthority, instant: str, why: str
    ) -> None:
        error = refused(verifier, [header(with_issue_instant(authority, instant))])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION, why
        assert "IssueInstant" in error.message

    def test_missing_is_invalid(self, verifier: AssertionVerifier, authority: DevAuthority) -> None:
        error = refused(verifier, [header(with_issue_instant(authority, None))])
        assert error.fault is WsseFault.INVALID_SECURITY

    def test_within_the_window_is_accepted(
        self, verifier: AssertionVerifier, authority: DevAuthority
    ) -> None:
        verifier.verify_security_header([header(with_issue_instant(authority, "2026-11-27T12:00:30Z"))])


class TestAudience:
    def test_required_audience_needs_a_configured_one(self) -> None:
        with pytest.raises(ValueError, match="XDS_SAML_AUDIENCE"):
            SamlSettings(require_audience=True)

    @pytest.mark.parametrize("audience", [None, "https://another-service.example"])
    def test_dmp_refuses_an_assertion_not_addressed_to_it(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority, audience: str | None
    ) -> None:
        dmp = make_verifier(settings=SamlSettings(audience="urn:dmp:registry", require_audience=True))
        error = refused(dmp, [header(minted(authority, audience=audience))])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "not addressed" in error.message
        dmp.verify_security_header([header(minted(authority, audience="urn:dmp:registry"))])


class TestReplayInTheDatabase:
    def test_one_time_use_is_refused_after_a_restart(
        self, make_verifier: Callable[..., AssertionVerifier], authority: DevAuthority, database: Database
    ) -> None:
        """Two verifiers on one database: a second process, or the same server after a restart."""
        once = signed(authority, one_time_use=True)
        make_verifier(cache=SqlReplayCache(database)).verify_security_header([header(copy.deepcopy(once))])
        restarted = make_verifier(cache=SqlReplayCache(database))
        error = refused(restarted, [header(once)])
        assert error.fault is WsseFault.FAILED_AUTHENTICATION and "already used" in error.message

    def test_an_expired_entry_frees_its_key(self, database: Database) -> None:
        cache = SqlReplayCache(database)
        assert cache.first_use("issuer|_a", NOW + timedelta(minutes=1), NOW)
        assert not cache.first_use("issuer|_a", NOW + timedelta(minutes=1), NOW + timedelta(seconds=30))
        assert cache.first_use("issuer|_a", NOW + timedelta(minutes=9), NOW + timedelta(minutes=5))

    def test_purge_removes_expired_rows(self, database: Database) -> None:
        cache = SqlReplayCache(database, purge_every=3)
        cache.first_use("a", NOW + timedelta(minutes=1), NOW)
        cache.first_use("b", NOW + timedelta(minutes=1), NOW)
        cache.first_use("c", NOW + timedelta(hours=1), NOW + timedelta(minutes=2))  # third call purges a, b
        assert len(cache) == 1

    def test_concurrent_uses_admit_exactly_one(self, database: Database) -> None:
        caches = [SqlReplayCache(database) for _ in range(8)]  # as many server processes
        results: list[bool] = []
        lock = threading.Lock()

        def use(cache: SqlReplayCache) -> None:
            try:
                outcome = cache.first_use("issuer|_same", NOW + timedelta(minutes=5), NOW)
            except Exception:  # a busy database refuses the request: not a first use either
                outcome = False
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=use, args=(cache,)) for cache in caches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(True) == 1
