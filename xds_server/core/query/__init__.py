"""Registry Stored Query (ITI-18) and Multi-Patient Stored Query (ITI-51): pure query engine.

``run_stored_query(request, port, settings=, scope=, transaction=)`` parses the parameters of the query
named by ``request.query_id`` (one class per query in ``STORED_QUERIES`` / ``MULTI_PATIENT_QUERIES``),
reads through a ``QueryPort`` (storage/query_sql.py in production) and returns a ``QueryResult`` the
ebxml codec renders. Errors are ``XdsError`` with IHE codes.
"""

from xds_server.core.query.criteria import (
    EVERYTHING,
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    SubmissionSetCriteria,
    TimeRange,
    Visibility,
)
from xds_server.core.query.engine import (
    QueryResult,
    QuerySettings,
    ReturnType,
    StoredQueryRequest,
    Transaction,
    run_stored_query,
)
from xds_server.core.query.parameters import (
    INVALID_VALUE,
    PATIENT_PARAMETERS,
    Kind,
    Param,
    ParsedParams,
    named_patients,
    parse_parameters,
)
from xds_server.core.query.port import ObjectRow, QueryPort
from xds_server.core.query.queries import MULTI_PATIENT_QUERIES, STORED_QUERIES, StoredQuery

__all__ = [
    "EVERYTHING",
    "INVALID_VALUE",
    "MULTI_PATIENT_QUERIES",
    "PATIENT_PARAMETERS",
    "STORED_QUERIES",
    "AssociationCriteria",
    "DocumentCriteria",
    "FolderCriteria",
    "Kind",
    "ObjectRow",
    "Param",
    "ParsedParams",
    "QueryPort",
    "QueryResult",
    "QuerySettings",
    "ReturnType",
    "StoredQuery",
    "StoredQueryRequest",
    "SubmissionSetCriteria",
    "TimeRange",
    "Transaction",
    "Visibility",
    "named_patients",
    "parse_parameters",
    "run_stored_query",
]
