"""The Freshdesk app on Baton's side (being built)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("app_freshdesk", __name__, url_prefix="/apps/freshdesk")
