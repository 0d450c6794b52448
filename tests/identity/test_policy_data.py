"""The shipped matrix and groups load into a Policy."""

from __future__ import annotations

from xds_server.core.policy import PolicyMode
from xds_server.identity.policy_data import load_policy


class TestLoadPolicy:
    def test_dmp_policy_with_the_shipped_data(self) -> None:
        policy = load_policy("dmp")
        assert policy.mode is PolicyMode.DMP
        assert len(policy.groups.rules) == 18
        assert policy.matrix.allows({"medecin"}, "11488-4^^2.16.840.1.113883.6.1")

    def test_ihe_policy(self) -> None:
        assert load_policy(PolicyMode.IHE).mode is PolicyMode.IHE

    def test_deposit_setting(self) -> None:
        assert not load_policy(deposit_follows_matrix=False).deposit_follows_matrix
