"""The Celery application: settings come from Django's (namespace ``CELERY_``)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("mastery_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
QUEUES = ("mastery", "bulk", "reports")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.autodiscover_tasks()
