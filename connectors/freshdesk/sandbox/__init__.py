"""A local emulator ("sandbox") of the Freshdesk API v2 subset Baton uses.

It follows https://developers.freshdesk.com/api/ for tickets (with ``include=stats``; listed by
``updated_since`` and ``order_by``/``order_type``), conversations (notes,
replies), satisfaction ratings, contacts, companies, agents and groups: API-key Basic auth,
``X-RateLimit-*`` headers, Freshdesk's error bodies. It sends what Freshdesk would: automation-rule
"Trigger Webhook" calls (a ``{{placeholder}}`` body template) and the app events an FDK app forwards
(``onTicketCreate``, ``onTicketUpdate``, ``onConversationCreate``). Freshdesk webhooks carry no
signature, so each hook sends the headers it was registered with: a per-installation secret header.
Deliveries leave from a background queue, retried on 429/5xx/network errors.

What agents and customers do in Freshdesk's UI: ``customer_reply``, ``agent_reply``, ``update_as`` (an
agent assigns, resolves, reopens: the stats follow, ``onTicketUpdate`` fires) and ``add_rating`` (the
survey answered: the rules on "customer feedback is received" fire; the FDK has no event for it).

Test knobs: ``throttle`` (429 + Retry-After), ``delay``, ``requests_log``, ``deliveries``,
``wait_for_deliveries`` and ``redeliver``. State lives in memory and every public method is thread-safe.

It also plays the Freshworks platform around Baton's marketplace app (``manifests/freshdesk/``,
FDK Platform 3.0): agents with Freshdesk's default roles (``/api/v2/roles``); the agent UI pages
that show the packaged app in ``<iframe id="baton-app">`` (``/a/apps/baton?as=<agent id>``, the
full-page app; ``/a/tickets/<id>?as=<agent id>``, the ticket sidebar); the admin's install page
around ``config/iparams.html`` (``/a/admin/apps/baton/install?as=<admin id>``); a stand-in for the
``client`` object that ``{{{appclient}}}`` loads; and the request proxy behind
``client.request.invokeTemplate``, which fills ``config/requests.json``'s templates with the
installation's iparams (secure ones kept here, never sent to a page) and the call's context,
under the platform's substitution rules, and answers ``{status, headers, response}``. Installing
the app also starts its serverless part: the product events its manifest subscribes to are
forwarded with the ``baton_event`` template; ``uninstall_app`` runs ``onAppUninstall``.

The package, the same modules in every connector's sandbox: ``state.py`` (the data and its rules,
what it sends, authentication), ``api.py`` (the API routes), ``pages.py`` (the agent UI and the
app platform) and ``driver.py`` (the driver that plays people on it).
"""
from __future__ import annotations

from flask import Flask

from connectors.freshdesk.sandbox.api import FreshdeskApi
from connectors.freshdesk.sandbox.pages import FreshdeskPages


class FreshdeskSandbox(FreshdeskApi, FreshdeskPages):
    """The Freshdesk sandbox: its state, the API and the pages on one server."""

    def _add_routes(self, app: Flask) -> None:
        self._add_api_routes(app)
        self._add_pages(app)


# the driver plays people on FreshdeskSandbox, above
from connectors.freshdesk.sandbox.driver import FreshdeskDriver  # noqa: E402

DRIVER = FreshdeskDriver
__all__ = ["DRIVER", "FreshdeskDriver", "FreshdeskSandbox"]
