"""IHE MHD (FHIR R4) facade over the XDS core. The routes arrive with the MHD issue."""

__all__: list[str] = []
