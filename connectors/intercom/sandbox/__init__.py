"""A local emulator ("sandbox") of the Intercom REST API subset Baton uses, in API version 2.14 shapes.

It follows https://developers.intercom.com/docs/references/2.14/rest-api/ for admins, teams, contacts,
companies, tags and conversations (retrieve with ``statistics`` and ``conversation_rating``, reply and
note, assign, close/open, tag, custom attributes, search); ``PUT /conversations/{id}`` takes
``priority`` only with ``Intercom-Version: Preview``. Calls need ``Authorization: Bearer <access
token>``; errors are ``error.list`` bodies; responses carry ``X-RateLimit-*``.

Webhooks go out as Intercom sends them: one Developer Hub subscription (url + topics), checked with a
``HEAD`` request and then a ``ping``; ``notification_event`` envelopes signed with ``X-Hub-Signature:
sha1=<hex HMAC-SHA1 of the raw body>``, keyed by the app's client secret, which every workspace that
installs the app shares. No timestamp is signed, so a redelivered body carries the same signature.
Deliveries run on a background thread, retried on 5xx and connection errors (not on 429).

The app platform, for Baton's public app (``register_app``, as its Developer Hub settings): OAuth
(``/oauth`` consent page for the signed-in teammate, ``POST /auth/eagle/token``; tokens act as the
teammate who authorized and never expire), the App Store page with the app's Installation URL
(*Install now*; once the app is installed in the workspace, *Open*, to the same URL: [U] what
Intercom's listing offers an installed app), uninstalling (``uninstall_app``: tokens revoked, then a ``{"app_id"}`` POST to the uninstall URL),
and the inbox (``/a/inbox/conversation/<id>?as=<admin id>``): the conversation with the app's
Canvas Kit card in its details, fetched with a signed initialize request and rendered as HTML; the
card's buttons post back through the sandbox, which sends the signed submit request. Canvas Kit
requests carry ``X-Body-Signature``: hex HMAC-SHA256 of the body keyed with the app's client secret.
The web pages (``/oauth``, ``/a/…``) use a sign-in cookie, not the API's bearer token.

Fin, Intercom's AI agent (``fin_answer``, ``fin_verdict``): its replies are parts by a bot author
flagged ``from_ai_agent``/``is_ai_answer``, sent on *both* ``conversation.operator.replied`` and
``conversation.admin.replied`` as Intercom does (a community forum report, 2026); a conversation it
took part in shows ``ai_agent_participated`` and ``ai_agent.resolution_state`` (API 2.15+ words; the
2.14 answer uses that version's ``routed_to_team``). Whether an API assignment stops a running "Let
Fin handle" step is not documented anywhere, so the sandbox plays both: ``fin_stops_on_assignment``
(True: Fin stays silent once the conversation is assigned to a teammate or team; False: it keeps
answering).

Test knobs: ``throttle``, ``delay``, ``fin_stops_on_assignment``, ``requests_log``, ``deliveries``, ``wait_for_deliveries``,
``redeliver``, ``signed_request``, ``canvas_requests``. State lives in memory; public methods are
thread-safe; seed helpers raise ``ApiError`` (404) for unknown ids.

The package, the same modules in every connector's sandbox: ``state.py`` (the data and its rules,
the webhooks, authentication), ``api.py`` (the API routes), ``pages.py`` (the web app and the app
platform) and ``driver.py`` (the driver that plays people on it).
"""
from __future__ import annotations

from flask import Flask

from connectors.intercom.sandbox.api import IntercomApi
from connectors.intercom.sandbox.pages import IntercomPages
from connectors.intercom.sandbox.state import ApiError, AppRegistration


class IntercomSandbox(IntercomApi, IntercomPages):
    """The Intercom sandbox: its state, the API and the pages on one server."""

    def _add_routes(self, app: Flask) -> None:
        self._add_api_routes(app)
        self._add_pages(app)


# the driver plays people on IntercomSandbox, above
from connectors.intercom.sandbox.driver import IntercomDriver  # noqa: E402

DRIVER = IntercomDriver
__all__ = ["DRIVER", "ApiError", "AppRegistration", "IntercomDriver", "IntercomSandbox"]
