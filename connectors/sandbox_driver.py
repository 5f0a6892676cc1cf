"""The base of the drivers that play the people around a helpdesk on its sandbox (``sandbox.py``):
the admin who installs Baton, the customers and the bot who talk, the agents who take over. The demo,
the end-to-end suite and the benches all use the same driver per helpdesk; none of them names a
vendor's API. Each vendor's is ``connectors/<vendor>/sandbox/driver.py``.
"""
from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # connectors.sandbox imports this module's names back, for its callers
    from connectors.sandbox import JSON, Sandbox


@dataclass(frozen=True)
class Person:
    """A customer to play, with what the helpdesk may know about them."""

    name: str
    email: str
    tags: tuple[str, ...] = ()
    organization: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # plan, tier … as custom fields


@dataclass(frozen=True)
class Setup:
    """What an admin enters when installing Baton into the helpdesk."""

    credentials: Mapping[str, str]
    settings: Mapping[str, Any]
    mode: str


@dataclass(frozen=True)
class TicketView:
    """A ticket as an agent would see it in the helpdesk, vendor-neutral."""

    priority: str | None
    group_id: str | None
    agent_id: str | None
    tags: tuple[str, ...]
    notes: tuple[str, ...]  # private notes, HTML as stored
    said: tuple[str, ...]  # what Baton told the customer


@dataclass(frozen=True)
class AppSetup:
    """Baton's marketplace app as a deployment registered it with the vendor: what a sandbox's app
    platform needs to show Baton to its users."""

    baton_url: str
    installation: Any = None  # Baton's installation for this sandbox (None: the app's own flow makes it)
    client_id: str = ""  # Baton's OAuth client (Zendesk, Intercom)
    client_secret: str = ""
    app_key: str = ""  # the installation key the app stores as a secure setting (Freshdesk)
    app_id: str = ""  # the id the vendor gave Baton's app (Zendesk: its public key is fetched by it)


class Driver(ABC):
    key: ClassVar[str]
    write_method: ClassVar[str]  # the HTTP method of the first write-back call (delayed to kill a worker inside it)
    api_prefix: ClassVar[str] = "/api/v2"
    sandbox_class: ClassVar[type[Sandbox[Any]]]
    # the sandbox shows Baton's own marketplace app (show_app, console_url, panel_url); False where
    # Baton has no app in that product and is reached through another's (Freshchat: the Freshdesk app)
    has_app: ClassVar[bool] = True
    # what the helpdesk lists besides groups and agents, for the console's pickers: brands (or
    # products), skills, tags; a helpdesk without one lists none, and add_brand … return None there
    has_brands: ClassVar[bool] = False
    has_skills: ClassVar[bool] = False
    lists_tags: ClassVar[bool] = False

    def __init__(self, retry_delays: Sequence[float] = (0.2, 0.2, 0.2)) -> None:
        self.sandbox: Any = self.sandbox_class(retry_delays=retry_delays)  # type: ignore[call-arg]
        self._count = itertools.count(1)
        self._customers: dict[str, Any] = {}  # conversation → who plays its customer
        self.names: dict[str, str] = {}  # group and agent ids → names, for printing
        self.bot_id: Any = None  # the bot user, made by setup()
        self._human: str | None = None

    # lifecycle
    def start(self) -> str:
        return self.sandbox.start()

    def stop(self) -> None:
        self.sandbox.stop()

    @property
    def url(self) -> str:
        return self.sandbox.url

    # Baton's marketplace app
    @abstractmethod
    def show_app(self, app: AppSetup) -> None:
        """Install Baton's app in the sandbox's app platform, as the helpdesk's admin would."""

    @abstractmethod
    def console_url(self, user: str = "admin") -> str:
        """Where ``user`` ("admin", "agent" or a user id) opens Baton's console in the sandbox's UI."""

    @abstractmethod
    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        """Where ``user`` sees Baton's panel on a ticket in the sandbox's UI."""

    # installing
    @abstractmethod
    def setup(self) -> Setup:
        """Create the bot user and say what the admin types into Baton's install command."""

    def connect(self, installation: Any, endpoint: str) -> None:
        """What the admin does by hand in the helpdesk after the install command (nothing by default)."""

    # the team
    def add_group(self, name: str) -> str:
        gid = str(self._new_group(name))
        self.names[gid] = name
        return gid

    def add_agent(self, name: str, group_id: str, online: bool = True) -> str:
        """A human agent in ``group_id``, online (available) or not."""
        aid = str(self._new_agent(name, group_id, online))
        self.names[aid] = name
        return aid

    def add_brand(self, name: str) -> str | None:
        """A brand (Zendesk) or product (Freshdesk); None where the helpdesk has neither."""
        return None

    def add_skill(self, name: str, agent_ids: Sequence[str] = ()) -> str | None:
        """A skill given to ``agent_ids``; None where the helpdesk has no skills."""
        return None

    def add_tag(self, name: str) -> bool:
        """A tag in use in the account, as its tag list shows it; False where the helpdesk lists no tags."""
        return False

    @abstractmethod
    def _new_group(self, name: str) -> Any: ...

    @abstractmethod
    def _new_agent(self, name: str, group_id: str, online: bool) -> Any: ...

    def seed_team(self) -> tuple[str, str, str]:
        """A group with one agent online and one offline: (group, online agent, offline agent)."""
        group = self.add_group("Billing")
        return group, self.add_agent("Sam", group, online=True), self.add_agent("Kim", group, online=False)

    # conversations
    def new_conversation(self, text: str, person: Person | None = None, subject: str | None = None) -> str:
        """A customer writes in (a new one unless ``person`` is given); returns the conversation id."""
        n = next(self._count)
        person = person or Person(f"Customer {n}", f"c{n}@example.com")
        customer = self._add_customer(person)
        cid = str(self._open(customer, subject or f"Ticket {n}", text))
        self._customers[cid] = customer
        return cid

    def say(self, cid: Any, text: str, role: str = "customer") -> None:
        """The conversation's customer, the bot or a human agent writes in public."""
        author = {"customer": lambda: self._customers[str(cid)], "bot": lambda: self.bot_id, "agent": self.human}[role]()
        self._reply(str(cid), author, text, role)

    def human(self) -> str:
        """A human agent who can answer customers (made on first use)."""
        if self._human is None:
            self._human = self.add_agent("Alex", self.add_group("Support"))
        return self._human

    @abstractmethod
    def _add_customer(self, person: Person) -> Any: ...

    @abstractmethod
    def _open(self, customer: Any, subject: str, text: str) -> Any: ...

    @abstractmethod
    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        """``author`` (the customer, or with role "bot"/"agent" a staff user) writes in public."""

    # what agents and the customer do after the handoff (each sends the vendor's lifecycle webhook, if it has one)
    @abstractmethod
    def assign(self, cid: Any, agent_id: str) -> None:
        """``agent_id`` takes the conversation (assigned to them, by them)."""

    @abstractmethod
    def solve(self, cid: Any) -> None:
        """Its agent (the assignee, else the human agent) solves / resolves / closes it."""

    @abstractmethod
    def reopen(self, cid: Any) -> None:
        """Its agent opens it again."""

    @abstractmethod
    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        """The customer rates it: good or bad, or 1 to 5 stars (each vendor on its own scale)."""

    def _agent_of(self, cid: Any) -> str:
        """Who acts for the helpdesk on a conversation: its assignee, else the human agent."""
        return self.assignee(cid) or self.human()

    # reading the result
    @abstractmethod
    def view(self, cid: Any) -> TicketView: ...

    def notes(self, cid: Any) -> list[str]:
        return list(self.view(cid).notes)

    def assignee(self, cid: Any) -> str | None:
        return self.view(cid).agent_id

    def said(self, cid: Any) -> list[str]:
        return list(self.view(cid).said)

    @abstractmethod
    def writes(self, cid: Any) -> list[JSON]:
        """The write-back calls made on this conversation."""

    # forging and signing deliveries
    @abstractmethod
    def forged(self) -> bytes:
        """A well-formed delivery for a ticket that does not exist, to send unsigned or wrongly signed."""

    @abstractmethod
    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        """The headers that authenticate ``body`` for the installation (or with another secret)."""

    @classmethod
    def stored_secret(cls, secret: str) -> str:
        """What Baton keeps as the webhook secret of an installation whose helpdesk signs with
        ``secret``: the secret itself where it is shared (an HMAC key, a header); the public half
        of a key pair where the helpdesk signs with a private key (Freshchat)."""
        return secret

    # what every sandbox offers the same way
    def throttle(self, count: int, retry_after: float) -> None:
        self.sandbox.throttle(count, retry_after=retry_after)

    def fail(self, count: int, status: int) -> None:
        self.sandbox.fail(count, status)

    def delay(self, seconds: float) -> None:
        self.sandbox.delay(seconds, self.write_method)

    def wait_for_deliveries(self, timeout: float = 10) -> bool:
        return self.sandbox.wait_for_deliveries(timeout=timeout)

    def deliveries_for(self, cid: Any) -> list[int]:
        return [i for i, d in enumerate(self.sandbox.deliveries) if self._mentions(d["body"], cid)]

    def drop_deliveries(self, share: float, seed: int = 0) -> None:
        """The helpdesk loses ``share`` of its webhook deliveries from now on (every vendor's sandbox
        queues its deliveries through one place, ``Sandbox._enqueue``, where they are lost)."""
        self.sandbox.drop_deliveries(share, seed)

    def dropped_for(self, cid: Any) -> int:
        """How many of this conversation's deliveries were lost."""
        return sum(1 for d in self.sandbox.dropped if self._mentions(d["body"], cid))

    @staticmethod
    def _mentions(body: bytes, cid: Any) -> bool:
        return f'"{cid}"'.encode() in body or f'"id": {cid},'.encode() in body or f'"id":{cid},'.encode() in body

    def redeliver(self, index: int) -> int | None:
        return self.sandbox.redeliver(index)

    def status_of(self, index: int) -> int | None:
        return self.sandbox.deliveries[index]["status"]  # type: ignore[no-any-return]

    def api_log(self) -> list[JSON]:
        return [r for r in self.sandbox.requests_log if r["path"].startswith(self.api_prefix)]
