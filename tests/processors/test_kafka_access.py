"""The worker's start check maps the broker's answers to the permission its principal lacks.

Fakes stand in for the admin client here; the proof over a broker enforcing ACLs is
tests/integration/test_kafka_security.py::test_worker_without_its_group_or_transactional_id_acl_says_which.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    NotCoordinatorError,
    TransactionalIdAuthorizationFailed,
)

from bridge.settings import load_settings
from processors import kafka_access

INVALID_PRODUCER_ID_MAPPING = 49  # what the coordinator answers a request naming no producer


def _admin(*answers: int | BaseException | None) -> Any:
    """A fake admin client answering each request with the next error code (None: never answers)."""
    sent: list[Any] = []
    queue = list(answers)

    async def send_request(request: Any) -> Any:
        sent.append(request.prepare({request.API_KEY: (0, 4)}))
        answer = queue.pop(0)
        if answer is None:
            await asyncio.Event().wait()
        if isinstance(answer, BaseException):
            raise answer
        return SimpleNamespace(throttle_time_ms=0, error_code=answer)

    return SimpleNamespace(_send_request=send_request, sent=sent)


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        (TransactionalIdAuthorizationFailed.errno, "transactional id"),
        (GroupAuthorizationFailedError.errno, "group"),
        (INVALID_PRODUCER_ID_MAPPING, None),  # both permissions checked and held
        (NotCoordinatorError.errno, None),  # another broker coordinates the id: held as well
        (0, None),
        (KafkaConnectionError(), None),  # no verdict
        (None, None),  # a timeout: no verdict
    ],
)
async def test_each_answer_maps_to_the_refused_permission_or_none(
    answer: int | BaseException | None, refused: str | None
) -> None:
    admin = _admin(answer)
    assert refused == await kafka_access.write_and_read_refusal(admin, "app-p0", "app", 0.05)
    [sent] = admin.sent
    fields = (sent.transactional_id, sent.producer_id, sent.producer_epoch, sent.group_id)
    assert ("app-p0", -1, -1, "app") == fields  # no producer named: the coordinator changes nothing


async def test_describe_alone_on_the_group_or_the_ids_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """FindCoordinator passes (DESCRIBE held); AddOffsetsToTxn's refusals name what the worker lacks.
    An id whose FindCoordinator is already refused gets no AddOffsetsToTxn."""
    settings = load_settings(kafka_embedded=False, worker_app_id="app", input_topic_partitions=3)
    lookups: list[tuple[str, str]] = []

    async def find_coordinator(client: Any, kind: str, key: str) -> int:
        lookups.append((kind, key))
        if key == "app-p2":
            raise TransactionalIdAuthorizationFailed()
        return 1

    admin = _admin(TransactionalIdAuthorizationFailed.errno, GroupAuthorizationFailedError.errno)

    @contextlib.asynccontextmanager
    async def admin_client(bootstrap: str, timeout_s: float) -> AsyncIterator[Any]:
        yield admin

    monkeypatch.setattr(kafka_access, "admin_client", admin_client)
    monkeypatch.setattr(kafka_access, "client_of", lambda owner: owner)
    monkeypatch.setattr(kafka_access, "find_coordinator", find_coordinator)
    problems = await kafka_access.access_problems(settings)
    assert [("group", "app"), ("transaction", "app-p0"), ("transaction", "app-p1")] == lookups[:3]
    assert ["app-p0", "app-p1"] == [sent.transactional_id for sent in admin.sent]
    assert ("app", ["app-p0", "app-p2"]) == (problems.group, problems.transactional_ids)
    message = problems.message()
    assert "lacks READ on GROUP app (prefixed)" in message
    assert "lacks WRITE on TRANSACTIONAL_ID app (prefixed)" in message
