"""The SOAP 1.2 face: envelope and WS-Addressing checks, faults, MTOM/XOP, one thin handler per transaction.

``router.ROUTES`` maps each wsa:Action to its handler; ``endpoints.api`` mounts the router on
``/xds/registry`` and ``/xds/repository``; ``services.Services`` is what handlers receive.
"""

__all__: list[str] = []
