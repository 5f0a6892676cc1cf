"""The Celery worker's and beat's entry point: ``celery -A integration.service.worker worker``."""
from integration.service.web import create_app

app = create_app().extensions["celery"]
