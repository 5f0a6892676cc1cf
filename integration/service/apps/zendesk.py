"""The Zendesk app on Baton's side (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("app_zendesk", __name__, url_prefix="/apps/zendesk")
