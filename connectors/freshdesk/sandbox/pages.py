"""The Freshdesk sandbox's agent UI and the Freshworks platform around Baton's marketplace app:
the pages that show the packaged app (full page, ticket sidebar), the admin's install page, the
``client`` stand-in and the request proxy behind ``client.request.invokeTemplate``; installing and
uninstalling the app (its serverless event forwarding, ``onAppUninstall``).
"""
from __future__ import annotations

import copy
import html
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, abort, jsonify, request, send_from_directory

from connectors.freshdesk.sandbox.state import FreshdeskState
from connectors.sandbox import JSON, sanitize

ADMIN_ROLES = ("Account Administrator", "Administrator")
APP_PATH = "/a/apps/baton"  # where this sandbox serves it
# A request template's <%= iparam.x %> / <%= context.x %> (developers.freshworks.com, "Request method")
PLACEHOLDER = re.compile(r"<%=\s*(iparam|context)\.(\w+)\s*%>")
LOCAL_HOSTS = ("127.0.0.1", "localhost")


class FreshdeskPages(FreshdeskState):
    """Baton's marketplace app on the Freshworks platform, and the pages agents and admins see."""

    def install_app(self, iparams: JSON, secure: JSON) -> None:
        """The app installed with these iparams (as its settings page's postConfigs stores them),
        its serverless event forwarding started."""
        with self._lock:
            self.app_iparams, self.app_secure_iparams = dict(iparams), dict(secure)
            if self._app_hook is not None:
                self._forwarders.pop(self._app_hook, None)
                self._app_hook = None
            events = self._manifest()["modules"].get("support_ticket", {}).get("events", {})
        if events and "baton_event" in self._templates():
            _, url, _, headers = self._fill("baton_event", {}, "server")
            if any(hook["url"] == url for hook in self._forwarders.values()):
                return  # the operator's connect() already forwards these events there
            self._app_hook = self.add_app_forwarder(url, {k: v for k, v in headers.items() if k != "Content-Type"})

    def uninstall_app(self) -> int | None:
        """The admin uninstalls the app: its onAppUninstall handler runs (server/server.js calls the
        baton_uninstall template), then its iparams and event forwarding are gone. The status Baton
        answered (None: no handler, or no answer)."""
        status = None
        if "onAppUninstall" in self._manifest()["modules"]["common"].get("events", {}):
            body = json.dumps({"event": "onAppUninstall", "timestamp": int(self.clock().timestamp() * 1000)})
            status = self._invoke("baton_uninstall", {}, body, "server")["status"]
        with self._lock:
            if self._app_hook is not None:
                self._forwarders.pop(self._app_hook, None)
            self._app_hook, self.app_iparams, self.app_secure_iparams = None, {}, {}
        return status

    def is_admin(self, agent_id: int) -> bool:
        agent = self._agents.get(agent_id) or {}
        return any(self._roles[r]["name"] in ADMIN_ROLES for r in agent.get("role_ids", ()))

    def _manifest(self) -> JSON:
        return json.loads((self.app_dir / "manifest.json").read_text())  # type: ignore[no-any-return]

    def _templates(self) -> JSON:
        return json.loads((self.app_dir / "config" / "requests.json").read_text())  # type: ignore[no-any-return]

    def _fill(self, name: str, context: JSON, where: str) -> tuple[str, str, JSON, dict[str, str]]:
        """A request template filled as Freshworks' proxy fills it: (method, url, query, headers).
        ``where``: "page" (an app page), "install" (the settings page, before any iparam exists) or
        "server" (serverless). The rules: iparams only once installed, secure ones in headers only;
        context in host and headers only from the settings page and serverless (developers.freshworks.com,
        "Request method": context and iparams substitution). A break is a ValueError."""
        templates = self._templates()
        if name not in self._manifest()["modules"]["common"].get("requests", {}) or name not in templates:
            raise ValueError(f"Requested template {name!r} is not declared in manifest.json and requests.json")
        schema = templates[name]["schema"]
        with self._lock:
            plain, secure = dict(self.app_iparams), dict(self.app_secure_iparams)

        def fill(text: str, part: str) -> str:
            if text.count("<%") != len(PLACEHOLDER.findall(text)):
                raise ValueError(f"schema.{part}: only <%= iparam.x %> and <%= context.x %> are substituted")

            def value(match: re.Match[str]) -> str:
                source, key = match.groups()
                if source == "context":
                    if part in ("host", "headers") and where == "page":
                        raise ValueError(f"context.{key} in schema.{part}: only the settings page and serverless may")
                    if key not in context:
                        raise ValueError(f"context.{key} was not given")
                    return str(context[key])
                if where == "install" or key not in {**plain, **secure}:
                    raise ValueError(f"iparam.{key} is not set (not installed yet?)")
                if key in secure and part != "headers":
                    raise ValueError(f"secure iparam.{key} in schema.{part}: secure iparams go in headers only")
                return str(secure[key] if key in secure else plain[key])
            return PLACEHOLDER.sub(value, text)

        host = fill(schema["host"], "host")
        # https as the template says; a local Baton (the tests') is reached over http, as `fdk run` allows
        protocol = "http" if urlsplit(f"//{host}").hostname in LOCAL_HOSTS else schema.get("protocol", "https")
        url = f"{protocol}://{host}{fill(schema.get('path', '/'), 'path')}"
        query = {k: fill(v, "query") for k, v in (schema.get("query") or {}).items()}
        return schema["method"], url, query, {k: fill(v, "headers") for k, v in (schema.get("headers") or {}).items()}

    def _invoke(self, name: str, context: JSON, body: str | None, where: str) -> JSON:
        """What ``invokeTemplate`` resolves (2xx) or rejects with: ``{status, headers, response}``;
        network errors, 429 and 5xx are tried again per the template's ``options``."""
        try:
            method, url, query, headers = self._fill(name, context, where)
        except ValueError as e:
            return {"status": 400, "headers": {}, "response": str(e), "errorSource": "APP"}
        options = self._templates()[name].get("options") or {}
        result: JSON = {}
        attempt = 0
        for attempt in range(1, max(1, int(options.get("maxAttempts", 1))) + 1):
            try:
                r = requests.request(method, url, params=query, headers=headers, data=(body or "").encode(), timeout=15)
                result = {"status": r.status_code, "headers": dict(r.headers), "response": r.text}
            except requests.RequestException as e:
                result = {"status": 502, "headers": {}, "response": f"cannot reach {url}: {type(e).__name__}",
                          "errorSource": "PLATFORM"}
            if result["status"] != 429 and result["status"] < 500:
                break
            time.sleep(int(options.get("retryDelay", 0)) / 1000)
        with self._lock:
            self.app_requests.append({"name": name, "where": where, "method": method, "url": url, "headers": headers,
                                      "status": result["status"], "attempts": attempt})
        return result

    def _agent(self) -> JSON:
        """Who is signed in to the sandbox's agent UI: ``?as=<agent id>``, then a cookie keeps them, so a
        link to a ticket (Baton's activity) opens it (403 for anyone else)."""
        raw = request.args.get("as") or request.cookies.get(SIGNED_IN, "")
        agent = self._agents.get(int(raw)) if raw.isdigit() else None
        if agent is None:
            abort(403, "sign in as one of the account's agents: ?as=<agent id>")
        return agent

    def _frame(self, agent: JSON, location: str, ticket: int | None = None) -> str:
        frame = secrets.token_urlsafe(12)
        with self._lock:
            self._frames[frame] = {"agent": agent["id"], "location": location, "ticket": ticket}
        return frame

    def _framed(self) -> JSON:
        frame = self._frames.get(request.args.get("frame", ""))
        if frame is None:
            abort(404, "no such app frame")
        return frame

    def _location_url(self, module: str, location: str, frame: str) -> str:
        page = self._manifest()["modules"][module]["location"][location]["url"]
        return f"{APP_PATH}/app/{page}?frame={frame}"

    def _add_pages(self, app: Flask) -> None:
        @app.after_request
        def _sign_in(response: Response) -> Response:
            raw = request.args.get("as", "")
            if raw.isdigit() and int(raw) in self._agents and request.path.startswith("/a/"):
                response.set_cookie(SIGNED_IN, raw, httponly=True, samesite="Lax")
            return response

        @app.get(APP_PATH)
        def full_page_app() -> str:
            agent = self._agent()
            src = self._location_url("common", "full_page_app", self._frame(agent, "full_page_app"))
            return _page("Baton", agent, f'<iframe id="baton-app" title="Baton" src="{html.escape(src)}"></iframe>')

        @app.get("/a/tickets/<int:key>")
        def ticket_page(key: int) -> str:
            agent = self._agent()
            with self._lock:
                ticket = copy.deepcopy(self._find(self._tickets, key))
                conversations = copy.deepcopy(self._conversations[key])
            src = self._location_url("support_ticket", "ticket_sidebar", self._frame(agent, "ticket_sidebar", key))
            # a note shows its HTML (headings, lists), as Freshdesk's agent UI does; a message its text
            thread = "".join(f"<li class='private-note'><strong>Private note</strong><div class='note-body'>"
                             f"{sanitize(c['body'])}</div></li>" if c["private"] else
                             f"<li><div style='white-space:pre-wrap'>{html.escape(c['body_text'])}</div></li>"
                             for c in conversations)
            return _page(f"#{key} {ticket['subject']}", agent,
                         f'<div class="ticket"><section><h1>{html.escape(ticket["subject"])}</h1>'
                         f'<p>{html.escape(ticket["description_text"])}</p><ol>{thread}</ol></section>'
                         f'<aside><iframe id="baton-app" class="sidebar" title="Baton" src="{html.escape(src)}">'
                         '</iframe></aside></div>')

        @app.route("/a/admin/apps/baton/install", methods=["GET", "POST"])
        def install_page() -> Any:
            agent = self._agent()
            if not self.is_admin(agent["id"]):
                abort(403, "only the account's administrators install apps")
            if request.method == "POST":  # the Install button: what postConfigs returned
                data = request.get_json(silent=True) or {}
                configs = data.get("configs")
                framed = self._frames.get(str(data.get("frame")))
                if not isinstance(configs, dict) or framed is None or framed["location"] != "install":
                    return jsonify(message="postConfigs() must return an object"), 400
                meta = configs.pop("__meta", None) or {}
                secure = set(meta.get("secure") or ())
                self.install_app({k: v for k, v in configs.items() if k not in secure},
                                 {k: v for k, v in configs.items() if k in secure})
                return jsonify(installed=True)
            frame = self._frame(agent, "install")
            with self._lock:
                stored = json.dumps(self.app_iparams).replace("<", "\\u003c")  # safe inside <script>
            src = html.escape(f"{APP_PATH}/config/iparams.html?frame={frame}")
            return _page("Install Baton", agent, INSTALL_PAGE.format(src=src, frame=json.dumps(frame), stored=stored))

        @app.get(f"{APP_PATH}/_client.js")
        def client_js() -> Response:
            return Response(CLIENT_JS.replace("__FRAME__", json.dumps(request.args.get("frame", ""))),
                            mimetype="text/javascript")

        @app.get(f"{APP_PATH}/_data/<name>")
        def data(name: str) -> Any:
            frame = self._framed()
            with self._lock:
                values = {"loggedInUser": lambda: copy.deepcopy(self._agents[frame["agent"]]),
                          "currentHost": lambda: {"subscribed_modules": ["support_ticket"],
                                                  "endpoint_urls": {"freshdesk": self.url}},
                          "domainName": lambda: urlsplit(self.url).netloc}
                if frame["ticket"] is not None:
                    values["ticket"] = lambda: copy.deepcopy(self._tickets[frame["ticket"]])
                if name not in values:
                    return jsonify(message=f"{name} is not available in this placeholder"), 404
                return jsonify({name: values[name]()})

        @app.get(f"{APP_PATH}/_iparams")
        def iparams() -> Any:
            self._framed()
            with self._lock:
                return jsonify(self.app_iparams)  # client.iparams.get(): never the secure ones

        @app.post(f"{APP_PATH}/_invoke")
        def invoke() -> Any:
            frame = self._framed()
            data = request.get_json(silent=True) or {}
            context, body = data.get("context") or {}, data.get("body")
            if not isinstance(context, dict) or not (body is None or isinstance(body, str)):
                return jsonify(status=400, headers={}, response="context must be an object and body a string")
            where = "install" if frame["location"] == "install" else "page"
            return jsonify(self._invoke(str(data.get("name")), context, body, where))

        @app.get(f"{APP_PATH}/<path:name>")
        def packaged(name: str) -> Any:
            """The package's front end: app/ and the settings page, never the templates or server/."""
            frame = request.args.get("frame", "")
            if not (name.startswith(("app/", "config/assets/")) or name == "config/iparams.html"):
                abort(404)
            if name.endswith(".html"):
                page = (self.app_dir / name).resolve()
                if not page.is_relative_to(self.app_dir.resolve()) or not page.is_file():
                    abort(404)
                script = f"{APP_PATH}/_client.js?frame={frame}"
                return Response(page.read_text().replace("{{{appclient}}}", html.escape(script)), mimetype="text/html")
            return send_from_directory(self.app_dir, name)

def _page(title: str, agent: JSON, body: str) -> str:
    """A page of the sandbox's agent UI: a bar naming who is signed in, then ``body``."""
    who = html.escape(agent["contact"]["name"])
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Freshdesk '
            f'sandbox</title><style>{SANDBOX_CSS}</style></head><body><header>Freshdesk sandbox · signed in as '
            f'<span id="agent">{who}</span></header><main>{body}</main></body></html>')


SIGNED_IN = "fd_sandbox_agent"  # the agent signed in to the sandbox's agent UI

SANDBOX_CSS = ("body{margin:0;font:14px/20px sans-serif;color:#12344d;background:#f5f7f9}"
               "header{background:#12344d;color:#fff;padding:8px 16px}main{padding:16px}"
               "iframe{border:1px solid #cfd7df;background:#fff;width:100%;height:820px}"
               ".ticket{display:flex;gap:16px}.ticket section{flex:1}.ticket aside{width:360px}.sidebar{height:1100px}"
               "#install{margin-top:12px}.ticket ol>li{background:#fff;border:1px solid #cfd7df;border-radius:4px;"
               "padding:8px 12px;margin:8px 0}.ticket li.private-note{background:#fef1e1;border-color:#fedcb3}"
               ".note-body h3{font-size:14px;margin:10px 0 4px}.note-body ul{margin:4px 0;padding-left:20px}"
               ".note-body p{margin:4px 0}")

# The settings page's frame and the platform's own Install button, which calls the page's validate(),
# then stores what postConfigs() returns; on Edit Settings the stored iparams go to getConfigs().
INSTALL_PAGE = """<h1>Baton</h1>
<iframe id="baton-settings" title="Baton settings" src="{src}" style="height:420px"></iframe>
<button id="install" type="button">Install</button> <span id="install-result" role="status"></span>
<script type="application/json" id="stored-iparams">{stored}</script>
<script>
(function () {{
  var frame = document.getElementById("baton-settings"), out = document.getElementById("install-result");
  var stored = JSON.parse(document.getElementById("stored-iparams").textContent);
  frame.addEventListener("load", function () {{
    if (Object.keys(stored).length) frame.contentWindow.getConfigs(stored);
  }});
  document.getElementById("install").addEventListener("click", async function () {{
    out.dataset.state = "working"; out.textContent = "Installing…";
    try {{
      if (!(await frame.contentWindow.validate())) {{
        out.dataset.state = "refused"; out.textContent = "Not installed: see the settings above."; return;
      }}
      var configs = await frame.contentWindow.postConfigs();
      var r = await fetch(location.href, {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                          body: JSON.stringify({{frame: {frame}, configs: configs}})}});
      out.dataset.state = r.ok ? "installed" : "refused";
      out.textContent = r.ok ? "Baton is installed." : "Not installed: " + (await r.text());
    }} catch (e) {{
      out.dataset.state = "refused"; out.textContent = "Not installed: " + e;
    }}
  }});
}})();
</script>"""

# The stand-in for the client that {{{appclient}}} loads in an FDK app page (developers.freshworks.com,
# "Front-end apps": app.initialized(), client.data, client.iparams, client.request.invokeTemplate,
# client.events, client.interface). invokeTemplate resolves a 2xx {status, headers, response} and rejects
# anything else with the same shape.
CLIENT_JS = """(function () {
  "use strict";
  var FRAME = __FRAME__, BASE = "/a/apps/baton/";
  function get(path) {
    return fetch(BASE + path + (path.indexOf("?") < 0 ? "?" : "&") + "frame=" + encodeURIComponent(FRAME))
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); });
  }
  var client = {
    data: {get: function (name) { return get("_data/" + encodeURIComponent(name)); }},
    iparams: {get: function (name) {
      return get("_iparams").then(function (all) {
        if (!name) return all;
        var one = {};
        one[name] = all[name];
        return one;
      });
    }},
    request: {invokeTemplate: function (name, options) {
      options = options || {};
      return fetch(BASE + "_invoke?frame=" + encodeURIComponent(FRAME), {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({name: name, context: options.context || {}, body: options.body})})
        .then(function (r) { return r.json(); })
        .then(function (result) { if (result.status >= 200 && result.status < 300) return result; throw result; });
    }},
    events: {on: function (name, callback) { if (name === "app.activated") setTimeout(callback, 0); }},
    interface: {trigger: function () { return Promise.resolve({}); }},
    instance: {context: function () { return Promise.resolve({}); }}
  };
  window.app = {initialized: function () { return Promise.resolve(client); }};
})();
"""
