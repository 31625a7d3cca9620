from __future__ import annotations

import subprocess

import pytest

from common.tasks import ping


@pytest.mark.worker
def test_a_real_worker_answers_on_the_test_redis_and_database(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    assert ping.delay().get(timeout=20) == "pong"
