"""Application services shared by the protocol faces (SOAP and FHIR): what a handler receives
(``Services``, the unit of work, access control) and the DMP rules applied per transaction
(``wiring.access``). Neither face imports the other; both import this."""

from xds_server.wiring.services import (
    AccessControl,
    RecordReader,
    Services,
    TransactionFactory,
    UnitOfWork,
    anonymous_actor,
    policy_mode,
)

__all__ = [
    "AccessControl",
    "RecordReader",
    "Services",
    "TransactionFactory",
    "UnitOfWork",
    "anonymous_actor",
    "policy_mode",
]
