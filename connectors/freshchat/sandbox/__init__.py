"""A local emulator ("sandbox") of the Freshdesk Messaging (Freshchat) API v2 subset Baton uses.

Paths and shapes follow https://developers.freshchat.com/api/ as the public clients use it (Botpress'
``integrations/freshchat``, Pipedream's ``components/freshchat``): ``/v2/accounts/configuration``,
agents, groups, users and a user's conversations, conversations (``GET``/``PUT``) and their messages
(``GET`` newest first, paged with ``page``/``items_per_page`` and a ``link`` to the next page;
``POST`` a ``normal`` or ``private`` message). Calls need ``Authorization: Bearer <token>``. What
Freshchat refuses, this refuses with a 400: a field it does not take, a status outside
new/assigned/resolved/reopened, an agent or group that does not exist, a priority outside
Low/Medium/High/Urgent, a conversation property the account never defined, a message without text
parts or by an agent who does not exist. A 429 carries ``Retry-After``. Error bodies and the
rate-limit headers (``X-RateLimit-Limit``/``-Remaining``) are [U]: Freshchat publishes neither.

Webhooks go out as Freshchat sends them (https://crmsupport.freshworks.com/support/solutions/articles/50000004461):
one URL per account, the four actions ``message_create``, ``conversation_assignment``,
``conversation_resolution`` and ``conversation_reopen``, signed in ``X-Freshchat-Signature`` with an
RSA key pair this sandbox holds (the private key never leaves it; ``public_key`` is what the admin
copies), with ``X-Retry-Count`` and ``X-Freshchat-Payload-Version``. Every message is delivered,
Baton's own and private ones included (they come back as echoes). Changes made through the API are
attributed to the ``system`` actor [U]; those an agent makes in the UI (``update_as``) to that agent.

Test knobs as every sandbox: ``throttle``, ``fail``, ``delay``, ``requests_log``, ``deliveries``,
``wait_for_deliveries``, ``redeliver``. State lives in memory and every public method is thread-safe.

The package, the same modules in every connector's sandbox: ``state.py`` (the data and its rules,
what it sends, authentication, the signing keys), ``api.py`` (the API routes), ``pages.py`` (the
inbox) and ``driver.py`` (the driver that plays people on it).
"""
from __future__ import annotations

from flask import Flask

from connectors.freshchat.sandbox.api import FreshchatApi
from connectors.freshchat.sandbox.pages import FreshchatPages
from connectors.freshchat.sandbox.state import key_pair, public_pem, sign


class FreshchatSandbox(FreshchatApi, FreshchatPages):
    """The Freshchat sandbox: its state, the API and the inbox on one server."""

    def _add_routes(self, app: Flask) -> None:
        self._add_api_routes(app)
        self._add_pages(app)


# the driver plays people on FreshchatSandbox, above
from connectors.freshchat.sandbox.driver import FreshchatDriver  # noqa: E402

DRIVER = FreshchatDriver
__all__ = ["DRIVER", "FreshchatDriver", "FreshchatSandbox", "key_pair", "public_pem", "sign"]
