"""core.profile: DomainProfile lookups."""

from __future__ import annotations

import dataclasses

from xds_server.core.profile import IHE_DEFAULT, BoundAttribute, DomainProfile, ValueSetBinding

from .builders import NIR_OID, TEST_NIR_OID, dmp_profile


class TestAcceptsAuthority:
    def test_any_authority_when_unrestricted(self) -> None:
        assert IHE_DEFAULT.accepts_authority("1.2.3.4")

    def test_listed_authority_only(self) -> None:
        profile = dmp_profile()
        assert profile.accepts_authority(NIR_OID)
        assert not profile.accepts_authority("1.2.3.4")

    def test_test_authority_needs_the_switch(self) -> None:
        assert not dmp_profile().accepts_authority(TEST_NIR_OID)
        assert dmp_profile(accept_test_authorities=True).accepts_authority(TEST_NIR_OID)

    def test_test_authority_refused_even_when_any_authority_is_accepted(self) -> None:
        profile = DomainProfile(name="x", test_authorities=frozenset({TEST_NIR_OID}))
        assert profile.accepts_authority("1.2.3.4") and not profile.accepts_authority(TEST_NIR_OID)


class TestBindings:
    def test_lookup_by_attribute(self) -> None:
        binding = dmp_profile().binding(BoundAttribute.CLASS_CODE)
        assert binding is not None and binding.allows("10", "1.2.250.1.213.1.1.4.1")
        assert not binding.allows("10", "other")
        assert dmp_profile().binding(BoundAttribute.EVENT_CODE_LIST) is None

    def test_replace_rebuilds_the_lookup(self) -> None:
        only_events = ValueSetBinding(BoundAttribute.EVENT_CODE_LIST, "ev", frozenset({("E", "1.2")}))
        profile = dataclasses.replace(dmp_profile(), bindings=(only_events,))
        assert profile.binding(BoundAttribute.CLASS_CODE) is None
        assert profile.binding(BoundAttribute.EVENT_CODE_LIST) == only_events

    def test_profiles_are_hashable_values(self) -> None:
        assert dmp_profile() == dmp_profile() and hash(dmp_profile()) == hash(dmp_profile())
