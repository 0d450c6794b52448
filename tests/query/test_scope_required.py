"""The query engine and the retrieve use case have no "everything" default (issue 14, item 11): a caller
that forgets the actor's scope fails at once instead of reading every record."""

from __future__ import annotations

import inspect

import pytest

from xds_server.core.query import StoredQueryRequest, run_stored_query
from xds_server.core.usecases.retrieve import DocumentRequest, retrieve

from .fake_port import FakeQueryPort

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


def test_run_stored_query_requires_a_scope() -> None:
    parameter = inspect.signature(run_stored_query).parameters["scope"]
    assert parameter.default is inspect.Parameter.empty
    with pytest.raises(TypeError, match="scope"):
        run_stored_query(StoredQueryRequest(FIND_DOCUMENTS), FakeQueryPort([]))  # type: ignore[call-arg]


def test_retrieve_requires_an_authorizer() -> None:
    parameter = inspect.signature(retrieve).parameters["authorize"]
    assert parameter.default is inspect.Parameter.empty
    with pytest.raises(TypeError, match="authorize"):
        retrieve(  # type: ignore[call-arg]
            [DocumentRequest("1.2.3", "1.2.3.4")],
            index=object(),  # type: ignore[arg-type]
            blobs=object(),  # type: ignore[arg-type]
            repository_unique_id="1.2.3",
        )
