// The ask form's answer cards, as boxes are ticked: the same cards the preview shows,
// fetched from /reports/answer for the first chosen condition and up to three side effects.
(function () {
  "use strict";
  var box = document.getElementById("answer-cards");
  var form = box && box.parentNode.querySelector("form.post-form");
  if (!box || !form || !window.fetch) return;
  var timer = null;
  function checked(name) {
    return Array.prototype.map.call(
      form.querySelectorAll("input[name='" + name + "']:checked"), function (i) { return i.value; });
  }
  function refresh() {
    var conditions = checked("conditions"), effects = checked("side_effects").slice(0, 3);
    if (!conditions.length || !effects.length) { box.innerHTML = ""; return; }
    var query = "condition=" + encodeURIComponent(conditions[0]) +
      effects.map(function (s) { return "&side_effect=" + encodeURIComponent(s); }).join("");
    fetch(box.getAttribute("data-answer-url") + "?" + query, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () {});
  }
  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    if (name !== "conditions" && name !== "side_effects") return;
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  });
})();
