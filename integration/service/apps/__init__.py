"""Each helpdesk's marketplace app, on Baton's side: how that helpdesk proves who the user is
(then the console's own session takes over), how it installs and uninstalls Baton without a
terminal. One module per helpdesk, each a Flask blueprint under ``/apps/<helpdesk>/``; the
vendor-specific checks they call (signatures, tokens, card shapes) live in
``connectors/<helpdesk>/app.py``."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from integration.service.apps import freshdesk, intercom, zendesk

    for module in (zendesk, freshdesk, intercom):
        app.register_blueprint(module.bp)
