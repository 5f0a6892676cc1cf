"""The Celery worker's and beat's entry point: ``celery -A integration.service.worker worker``.

A broker Redis that can lose queued work (evicting keys, no append-only file) stops the process
here with one line saying which setting to change (``tasks.check_broker``)."""
from integration.service.tasks import UnsafeBroker
from integration.service.web import create_app

try:
    app = create_app().extensions["celery"]
except UnsafeBroker as e:
    raise SystemExit(str(e)) from None
