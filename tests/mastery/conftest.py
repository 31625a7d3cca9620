"""Fixtures of the mastery tests: a small framework tree, learners, ratings, the Redis queues."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from config.celery import QUEUES
from config.celery import app as celery_app
from tests.mastery.helpers import World, build_world
from tests.personas import cast

__all__ = ["cast"]


@pytest.fixture
def world(db: None) -> World:
    return build_world()


class Queues:
    """The real Redis queues of the test broker (REDIS_URL's db): counted, never mocked."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(celery_app.conf.broker_url)

    def waiting(self, queue: str = "mastery") -> int:
        return int(self.client.llen(queue))

    def messages(self, queue: str = "mastery") -> list[bytes]:
        return list(self.client.lrange(queue, 0, -1))

    def purge(self) -> None:
        for queue in QUEUES:
            self.client.delete(queue)


@pytest.fixture
def queues() -> Iterator[Queues]:
    q = Queues()
    q.purge()
    yield q
    q.purge()
