// Baton's pages work without JavaScript; this makes them easier to use:
// - the rules' sections switch in place (the form keeps what was typed in the others);
// - a long list of choices gets a filter box;
// - tags and skills are added by searching them by name (a new tag may be typed; a skill may not);
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

  // tags and skills: each chosen one is a box; one more is added by typing part of its name and
  // choosing it from the list (Enter adds a tag as typed where new tags are allowed: data-free)
  function comboboxes(root) {
    all(root, "fieldset[data-combobox]").forEach(function (box) {
      var source = box.querySelector(".combo-input, .combo-select");
      if (!source || box.__batonCombo) { return; }
      box.__batonCombo = true;
      var free = box.hasAttribute("data-free");
      var chips = box.querySelector(".chips");
      var select = source.tagName === "SELECT";
      var base = select ? source.name.replace(/\.__add__$/, "") : source.name;
      var options = select
        ? all(source, "option").filter(function (o) { return o.value; }).map(function (o) { return {value: o.value, text: o.textContent}; })
        : (source.list ? all(source.list, "option").map(function (o) { return {value: o.value, text: o.value}; }) : []);
      var input = source;
      if (select) { // a search box instead of the list; the list stays, hidden, with nothing chosen
        input = document.createElement("input");
        input.type = "text";
        input.className = "c-txt__input combo-input";
        input.setAttribute("aria-label", source.getAttribute("aria-label") || "Add");
        input.placeholder = "Type part of a name";
        input.id = source.id;
        source.removeAttribute("id");
        source.hidden = true;
        source.parentNode.insertBefore(input, source);
      } else {
        input.removeAttribute("list"); // Baton's list below, not the browser's
      }
      input.setAttribute("autocomplete", "off");
      var list = document.createElement("ul");
      list.className = "combo-list";
      list.id = (input.id || base.replace(/\W/g, "-")) + "-list";
      list.setAttribute("role", "listbox");
      list.hidden = true;
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-autocomplete", "list");
      input.setAttribute("aria-controls", list.id);
      input.setAttribute("aria-expanded", "false");
      input.parentNode.insertBefore(list, input.nextSibling);
      var active = -1;

      function boxFor(value) {
        var name = base + ".__pick__." + value;
        return all(chips, "input[type=checkbox]").filter(function (c) { return c.name === name; })[0];
      }
      function close() {
        list.hidden = true;
        active = -1;
        input.setAttribute("aria-expanded", "false");
        input.removeAttribute("aria-activedescendant");
      }
      function add(value, text) {
        var existing = boxFor(value);
        if (existing) { existing.checked = true; } else {
          var label = document.createElement("label");
          var tick = document.createElement("input");
          label.className = "c-chk__label pick chip";
          tick.type = "checkbox";
          tick.className = "c-chk__input";
          tick.name = base + ".__pick__." + value;
          tick.checked = true;
          label.appendChild(tick);
          label.appendChild(document.createTextNode(" " + text));
          chips.appendChild(label);
        }
        input.value = "";
        close();
        box.dispatchEvent(new Event("change", {bubbles: true})); // the save bar sees the change
      }
      function item(value, text, id) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = list.id + "-" + id;
        li.textContent = text;
        if (value === null) { li.setAttribute("aria-disabled", "true"); return li; }
        li.setAttribute("data-value", value);
        li.addEventListener("mousedown", function (event) { event.preventDefault(); add(value, li.getAttribute("data-text")); });
        return li;
      }
      function render() {
        var q = input.value.trim();
        var lower = q.toLowerCase();
        var found = options.filter(function (o) {
          var b = boxFor(o.value);
          return (!b || !b.checked) && (!lower || o.text.toLowerCase().indexOf(lower) >= 0);
        }).slice(0, 8);
        list.innerHTML = "";
        active = -1;
        found.forEach(function (o, i) { var li = item(o.value, o.text, i); li.setAttribute("data-text", o.text); list.appendChild(li); });
        var exact = options.some(function (o) { return o.text.toLowerCase() === lower; });
        if (free && q && !exact) {
          var fresh = item(q, "Add “" + q + "” (a new tag)", "new");
          fresh.setAttribute("data-text", q);
          list.appendChild(fresh);
        }
        if (!free && q && !found.length) { list.appendChild(item(null, "None by that name", "none")); }
        list.hidden = !list.children.length || (!q && !found.length);
        input.setAttribute("aria-expanded", String(!list.hidden));
      }
      function highlight(n) {
        var items = all(list, "li[data-value]");
        if (!items.length) { return; }
        active = (n + items.length) % items.length;
        items.forEach(function (li, i) { li.classList.toggle("is-active", i === active); });
        input.setAttribute("aria-activedescendant", items[active].id);
      }
      input.addEventListener("input", render);
      input.addEventListener("focus", render);
      input.addEventListener("blur", close);
      input.addEventListener("keydown", function (event) {
        var items = all(list, "li[data-value]");
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          if (list.hidden) { render(); }
          highlight(active + (event.key === "ArrowDown" ? 1 : -1));
        } else if (event.key === "Enter") {
          event.preventDefault(); // Enter here chooses; it never saves the form
          var pick = items[active] || (items.length === 1 ? items[0] : null);
          if (pick) { add(pick.getAttribute("data-value"), pick.getAttribute("data-text")); }
          else if (free && input.value.trim()) { add(input.value.trim(), input.value.trim()); }
        } else if (event.key === "Escape") { close(); }
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
    comboboxes(root);
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
