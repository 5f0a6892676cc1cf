"""A local emulator ("sandbox") of the Zendesk Support API subset Baton uses.

It follows the documented behaviour of https://developer.zendesk.com/api-reference/ for tickets
(show, create, update with ``safe_update``, comments, metrics, the cursor-based incremental export), users, organizations, groups, webhooks
(with signing secrets) and triggers, and it sends webhooks as Zendesk does: event-subscription
payloads (``zen:event-type:ticket.*``) or trigger notifications (``conditional_ticket_events``),
signed with HMAC-SHA256, delivered from a background queue and retried on 409/429/5xx.

What agents and customers do in Zendesk's UI: ``add_comment``, ``update_as`` (an agent assigns, solves,
reopens: the ticket's metrics follow, its events fire) and ``rate`` (the legacy CSAT rating on the
ticket, good or bad, offered once the ticket is solved; Zendesk sends no event for it).

Test knobs: ``throttle`` (429 + Retry-After), ``delay``, ``requests_log``, ``deliveries``,
``wait_for_deliveries``, ``redeliver`` and ``signed_request``. ``/agent/tickets`` is a read-only
HTML view for humans. State lives in memory and every public method is thread-safe.

The app platform, for Baton's Zendesk app (``manifests/zendesk``): ``install_app`` installs it
(creating its requirements: the webhook), ``uninstall_app`` removes it (and them, as Zendesk
removes an app's requirements). A signed-in user (``?as=<user id>`` once, then a cookie, standing
in for Zendesk's session) sees the app in ``/agent/apps/baton`` (nav_bar) and on
``/agent/tickets/<id>`` (ticket_sidebar): an ``<iframe name="baton-app">`` loaded as Zendesk loads
signed URLs, by a POST carrying ``token``, an RS256 JWT signed with this sandbox's app key (served
at ``/api/v2/apps/{app id}/public_key.pem``); the page then answers the ZAF SDK's postMessage
calls (handshake, ``get`` of ``ticket.id``/``currentUser``, ``invoke`` of ``resize``). OAuth for
Baton's global client: ``/oauth/authorizations/new`` (a consent page), ``POST /oauth/tokens``, and
the bearer tokens issued, which act as the user who allowed them.

The package, one module per concern as in every connector's sandbox: ``state.py`` (the data and its
rules, authentication), ``webhooks.py`` (what Zendesk sends), ``api.py`` (the API routes),
``pages.py`` (the agent pages and the app platform), ``conversations.py`` (the Conversations API
emulator) and ``driver.py`` (the driver that plays people on it).
"""
from __future__ import annotations

from flask import Flask

from connectors.zendesk.sandbox.api import ZendeskApi
from connectors.zendesk.sandbox.pages import ZendeskPages
from connectors.zendesk.sandbox.webhooks import ZendeskWebhooks


class ZendeskSandbox(ZendeskApi, ZendeskPages, ZendeskWebhooks):
    """The Zendesk sandbox: its state and webhooks, the API and the pages on one server."""

    def _add_routes(self, app: Flask) -> None:
        self._add_api_routes(app)
        self._add_pages(app)


# the driver plays people on ZendeskSandbox, above
from connectors.zendesk.sandbox.driver import APP_PACKAGE, ZendeskDriver  # noqa: E402

DRIVER = ZendeskDriver
__all__ = ["APP_PACKAGE", "DRIVER", "ZendeskDriver", "ZendeskSandbox"]
