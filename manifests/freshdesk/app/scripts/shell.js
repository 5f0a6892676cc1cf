// The shell of Baton's Freshdesk app: Baton's console and panel are server-rendered pages, but an
// FDK app page may not frame a remote URL and reaches a backend only through request templates.
// So the shell asks Baton for each page through the "baton_page" template and injects the HTML
// fragment it answers; a link or a form inside it goes the same way ("htmx over invokeTemplate").
// Scripts inside an injected page do not run, so the shell runs the console's own script on each
// page (scripts/baton.js, a copy of Baton's static/baton.js: sections, filters, the unsaved-changes
// warning) and asks it before following a link away from unsaved changes.
(function () {
  "use strict";
  var root = document.getElementById("baton-root");
  var status = document.getElementById("baton-status");
  var client = null;
  var user = null; // client.data.get("loggedInUser"): unsigned, Baton checks it with Freshdesk
  var session = null; // Baton's session, answered with the first page
  var styled = false;
  var here = "/console/";

  function busy(on) {
    root.setAttribute("aria-busy", on ? "true" : "false");
  }

  function problem(message) {
    var note = document.createElement("div");
    note.id = "baton-problem";
    note.className = "shell-problem";
    note.setAttribute("role", "alert");
    note.textContent = message;
    status.replaceChildren(note);
    status.hidden = false;
  }

  function addStyles(urls) {
    if (styled || !Array.isArray(urls)) return;
    styled = true;
    urls.forEach(function (url) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = url;
      document.head.appendChild(link);
    });
  }

  function answer(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  // GET or POST one of Baton's pages; form: [[name, value], …]
  function go(method, path, form) {
    busy(true);
    var body = JSON.stringify({
      path: path, method: method, form: form || [], user: { id: user.id }, session: session
    });
    return client.request.invokeTemplate("baton_page", { context: {}, body: body })
      .then(function (response) { return answer(response.response); }, function (error) {
        var data = answer(error && error.response); // Baton's refusals carry a page too
        if (data && data.html) return data;
        var why = (error && error.status) || "no answer";
        throw new Error((data && data.error) || "Baton did not answer (" + why + ").");
      })
      .then(function (data) {
        if (!data || typeof data.html !== "string") throw new Error("Baton answered something that is not a page.");
        if (data.session) session = data.session;
        if (data.path) here = data.path;
        addStyles(data.styles);
        root.innerHTML = data.html; // Baton's own markup, from the installation the proxy authenticated
        if (window.BatonPage && window.BatonPage.enhance) window.BatonPage.enhance(root);
        status.hidden = true;
        window.scrollTo(0, 0);
      })
      .catch(function (error) { problem(error.message); })
      .then(function () { busy(false); });
  }

  root.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || !root.contains(link) || event.defaultPrevented) return; // e.g. a section's tab, switched in place
    var href = link.getAttribute("href");
    if (href.charAt(0) === "#") return; // an anchor in the page
    if (href.charAt(0) !== "/" || href.charAt(1) === "/") { // elsewhere (a ticket in Freshdesk…): a new tab
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      return;
    }
    event.preventDefault();
    var follow = function () { go("GET", href); };
    if (window.BatonPage && window.BatonPage.confirmLeave) window.BatonPage.confirmLeave(root, follow);
    else follow();
  });

  root.addEventListener("submit", function (event) {
    var form = event.target;
    event.preventDefault();
    var fields = [];
    new FormData(form, event.submitter || null).forEach(function (value, name) {
      if (typeof value === "string") fields.push([name, value]);
    });
    var action = form.getAttribute("action") || here;
    if ((form.getAttribute("method") || "get").toLowerCase() === "post") {
      go("POST", action, fields);
    } else {
      go("GET", action.split("?")[0] + "?" + new URLSearchParams(fields).toString());
    }
  });

  function open() {
    if (root.getAttribute("data-start") !== "panel") return go("GET", "/console/");
    return client.data.get("ticket").then(function (data) {
      return go("GET", "/panel?ticket=" + encodeURIComponent(data.ticket.id));
    });
  }

  app.initialized()
    .then(function (c) {
      client = c;
      return client.data.get("loggedInUser");
    })
    .then(function (data) {
      user = data.loggedInUser;
      client.events.on("app.activated", function () { open().catch(function (e) { problem(e.message); }); });
    })
    .catch(function () { problem("Freshdesk did not start the app: reload the page."); });
})();
