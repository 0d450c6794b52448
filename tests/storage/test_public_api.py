"""The storage package's public surface is exactly its ``__all__``, and every name resolves."""

from __future__ import annotations

import xds_server.storage as storage


class TestPublicApi:
    def test_every_exported_name_resolves(self) -> None:
        for name in storage.__all__:
            assert getattr(storage, name) is not None, name

    def test_exports_are_sorted_and_unique(self) -> None:
        assert list(storage.__all__) == sorted(set(storage.__all__))

    def test_the_ports_the_app_builds_are_exported(self) -> None:
        assert {"Database", "SqlPatientDirectory", "SqlRegistryStore", "upgrade"} <= set(storage.__all__)
