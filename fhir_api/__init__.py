"""The IHE MHD facade (FHIR R4) over the XDS.b registry and repository: ``build_face()`` is mounted by the
composition root on ``/fhir``. The XDS metadata stays the single source of truth: this package maps, it never
stores a second copy. Depends on ``xds_server.core`` and ``xds_server.wiring``, never on ``soap`` or
``ebxml``."""

from fhir_api.router import PREFIX, FhirFace, build_face

__all__ = ["PREFIX", "FhirFace", "build_face"]
