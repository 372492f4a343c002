"""Scale-out fixtures: one redis-server per session (broker), emptied for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scaleout.services import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_url(redis_server: RedisServer) -> str:
    """The session's Redis as a Celery broker, with no message left from an earlier test."""
    redis_server.flush()
    return redis_server.url
