// Baton's pages work without JavaScript; this makes them easier to use:
// - the rules' sections switch in place (the form keeps what was typed in the others);
// - a long list of choices gets a filter box;
// - leaving a form with unsaved changes asks first (Save draft / Leave without saving / Stay);
// - customer messages render live as they are typed.
// The Freshdesk app carries a copy of this file (manifests/freshdesk/app/scripts/baton.js, kept
// identical by the tests): Freshdesk injects Baton's pages into the app's own page, where scripts in
// them do not run, so its shell calls BatonPage.enhance on each page and asks BatonPage.confirmLeave
// before following a link. Elsewhere (Zendesk's iframe, Intercom's page) it runs on the document.
(function () {
  "use strict";
  var Baton = window.BatonPage = window.BatonPage || {};
  // in the Freshdesk app, Baton's pages are injected into the app's #baton-root by its shell
  if (Baton.embedded === undefined) { Baton.embedded = !!document.getElementById("baton-root"); }
  var SAMPLE = {team: "our billing team", wait: "Someone usually replies within about 10 minutes.",
                minutes: "10", opening: "Monday 09:00", category: "billing dispute"};

  function all(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }

  // customer messages, rendered as the customer would read them
  function render(template) {
    return template.replace(/\{(\w+)\}/g, function (m, name) {
      return Object.prototype.hasOwnProperty.call(SAMPLE, name) ? SAMPLE[name] : "⚠ unknown {" + name + "}";
    });
  }
  function messages(root) {
    all(root, "[data-render-into]").forEach(function (area) {
      var out = root.querySelector("#" + area.getAttribute("data-render-into"));
      if (!out) { return; }
      var update = function () { out.textContent = render(area.value); };
      area.addEventListener("input", update);
      update();
    });
  }

  // the rules' sections: one shown at a time, switched without leaving the page
  function tabs(root) {
    all(root, "a[data-tab]").forEach(function (tab) {
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        var key = tab.getAttribute("data-tab");
        all(root, "[data-section]").forEach(function (s) { s.hidden = s.getAttribute("data-section") !== key; });
        all(root, "a[data-tab]").forEach(function (t) {
          var on = t === tab;
          t.classList.toggle("is-current", on);
          if (on) { t.setAttribute("aria-current", "page"); } else { t.removeAttribute("aria-current"); }
        });
        var field = root.querySelector("#current-section");
        if (field) { field.value = key; }
        if (!Baton.embedded && window.history && window.history.replaceState) {
          window.history.replaceState(null, "", tab.getAttribute("href"));
        }
      });
    });
  }

  // a filter box before each long list of choices (a select, or a set of boxes)
  function filters(root) {
    all(root, "select[data-filter], fieldset[data-filter]").forEach(function (list) {
      if (list.previousElementSibling && list.previousElementSibling.classList.contains("choice-filter")) { return; }
      var box = document.createElement("input");
      var label = (list.id && root.querySelector("label[for='" + list.id + "']")) || list.querySelector("legend");
      box.type = "search";
      box.className = "c-txt__input choice-filter";
      box.placeholder = "Type to filter…";
      box.setAttribute("aria-label", "Filter the choices" + (label ? " of " + label.textContent.trim() : ""));
      box.setAttribute("data-ignore-changes", "");
      list.parentNode.insertBefore(box, list);
      box.addEventListener("input", function () {
        var q = box.value.trim().toLowerCase();
        var items = list.tagName === "SELECT" ? all(list, "option") : all(list, "label.pick");
        items.forEach(function (item) {
          var keep = !q || item.textContent.toLowerCase().indexOf(q) >= 0 || (item.selected && item.value);
          item.hidden = !keep;
        });
      });
    });
  }

  // unsaved changes: a form is dirty once what it would send differs from what it was given
  function snapshot(form) {
    var parts = [];
    all(form, "input, select, textarea").forEach(function (el) {
      if (!el.name || el.hasAttribute("data-ignore-changes")) { return; }
      if (el.type === "checkbox" || el.type === "radio") { parts.push(el.name + "=" + el.checked); }
      else { parts.push(el.name + "=" + el.value); }
    });
    return parts.join("\u0000");
  }
  function watch(root) {
    all(root, "form[data-unsaved-warning]").forEach(function (form) {
      form.__batonInitial = snapshot(form);
      var bar = root.querySelector("#save-bar");
      var state = root.querySelector("#save-state");
      var said = state ? state.textContent : "";
      var update = function () {
        var dirty = dirtyForm(form);
        if (bar) { bar.classList.toggle("is-dirty", dirty); }
        if (state) { state.textContent = dirty ? "Unsaved changes" : said; }
      };
      form.addEventListener("input", update);
      form.addEventListener("change", update);
      form.addEventListener("submit", function () { form.__batonSubmitted = true; });
    });
  }
  function dirtyForm(form) {
    return !form.__batonSubmitted && form.__batonInitial !== undefined && snapshot(form) !== form.__batonInitial;
  }
  function dirtyForms(root) {
    return all(root || document, "form[data-unsaved-warning]").filter(dirtyForm);
  }

  // asks before leaving unsaved changes; proceed() follows the link
  function confirmLeave(root, proceed) {
    var dirty = dirtyForms(root);
    if (!dirty.length) { proceed(); return; }
    var form = dirty[0];
    var old = document.getElementById("leave-warning");
    if (old) { old.parentNode.removeChild(old); }
    var dialog = document.createElement("div");
    dialog.id = "leave-warning";
    dialog.className = "leave-warning c-callout c-callout--warning";
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-labelledby", "leave-title");
    dialog.innerHTML = '<p class="c-callout__title" id="leave-title">You have unsaved changes</p>' +
      '<p class="c-callout__paragraph">Leave this page and lose them, or save them as a draft first?</p>' +
      '<p class="leave-actions"><button type="button" class="c-btn c-btn--primary" id="leave-save">Save draft</button> ' +
      '<button type="button" class="c-btn" id="leave-anyway">Leave without saving</button> ' +
      '<button type="button" class="c-btn" id="leave-stay">Stay on this page</button></p>';
    var close = function () { if (dialog.parentNode) { dialog.parentNode.removeChild(dialog); } };
    (root.nodeType === 9 ? document.body : root).appendChild(dialog);
    dialog.querySelector("#leave-stay").addEventListener("click", close);
    dialog.querySelector("#leave-anyway").addEventListener("click", function () {
      form.__batonSubmitted = true; // nothing to keep: no further warning on the way out
      close();
      proceed();
    });
    dialog.querySelector("#leave-save").addEventListener("click", function () {
      close();
      var save = form.querySelector("button[value='stay']") || form.querySelector("button[type='submit']");
      if (form.requestSubmit) { form.requestSubmit(save); } else { save.click(); }
    });
    dialog.addEventListener("keydown", function (event) { if (event.key === "Escape") { close(); } });
    dialog.querySelector("#leave-stay").focus();
  }

  function navigation(link) {
    var href = link.getAttribute("href") || "";
    return href && href.charAt(0) !== "#" && !link.hasAttribute("data-tab") && !link.target && !link.hasAttribute("download");
  }

  Baton.enhance = function (root) {
    messages(root);
    tabs(root);
    filters(root);
    watch(root);
  };
  Baton.confirmLeave = confirmLeave;
  Baton.isDirty = function (root) { return dirtyForms(root).length > 0; };
  Baton.isNavigation = navigation;

  if (!Baton.embedded) {
    Baton.enhance(document);
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[href]");
      if (!link || !navigation(link) || !dirtyForms(document).length || event.defaultPrevented) { return; }
      event.preventDefault();
      confirmLeave(document, function () { window.location.href = link.href; });
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirtyForms(document).length) { event.preventDefault(); event.returnValue = ""; }
    });
  }
})();
