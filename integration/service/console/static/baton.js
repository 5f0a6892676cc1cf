// Baton's pages work without JavaScript; this only adds the live rendering of customer messages.
(function () {
  "use strict";
  var SAMPLE = {team: "our billing team", wait: "Someone usually replies within about 10 minutes.",
                minutes: "10", opening: "Monday 09:00", category: "billing dispute"};
  function render(template) {
    return template.replace(/\{(\w+)\}/g, function (m, name) {
      return Object.prototype.hasOwnProperty.call(SAMPLE, name) ? SAMPLE[name] : "⚠ unknown {" + name + "}";
    });
  }
  function bind(area) {
    var out = document.getElementById(area.getAttribute("data-render-into"));
    if (!out) { return; }
    var update = function () { out.textContent = render(area.value); };
    area.addEventListener("input", update);
    update();
  }
  document.querySelectorAll("[data-render-into]").forEach(bind);
})();
