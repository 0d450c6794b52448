"""FeedService.handle never raises: a registry that cannot apply a message answers AR (retry), and an
unexpected failure too, the connection's next message being handled normally."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.feed.messages import adt, err, ihe_pid, msa
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.profile import IHE_DEFAULT
from xds_server.feed.service import FeedService


def failing(error: Exception) -> object:
    @contextmanager
    def transaction() -> Iterator[object]:
        raise error
        yield  # pragma: no cover

    return transaction


@pytest.mark.parametrize(
    "error",
    [XdsError.single(ErrorCode.REGISTRY_BUSY, "database locked"), RuntimeError("bug")],
)
def test_a_failure_is_an_ar_with_the_control_id(error: Exception) -> None:
    service = FeedService(failing(error), IHE_DEFAULT)  # type: ignore[arg-type]
    answer = service.handle(adt("A01", ihe_pid("B1"), control_id="BUSY1"))
    assert msa(answer)[1:3] == ["AR", "BUSY1"]
    assert "207^Application internal error" in err(answer)
    assert "bug" not in answer.decode()  # internals stay in the log


def test_framing_error_answer_names_the_message_when_it_can() -> None:
    service = FeedService(failing(RuntimeError()), IHE_DEFAULT)  # type: ignore[arg-type]
    answer = service.framing_error(
        "message larger than 10 bytes", adt("A01", ihe_pid("B2"), control_id="BIG2")
    )
    assert msa(answer)[1:3] == ["AR", "BIG2"]
    assert msa(service.framing_error("bytes outside an MLLP frame"))[1:3] == ["AR", ""]
