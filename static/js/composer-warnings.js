// Progressive enhancement for composers: while typing, a gentle note when the text seems to
// contain personal details. The server checks again on preview and after posting; this never
// blocks anything and the page works the same without it.
(function () {
  "use strict";
  var CHECKS = [
    [/[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}/i, "an email address"],
    [/(\+\d{1,3}[\s.-]?)?\(?\d{2,5}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}/, "a phone or NHS-style number"],
    [/\b(d\.?o\.?b\.?|date of birth|born on)\b/i, "a date of birth"],
    [/\b(hospital (no|number)|mrn|patient id|nhs (no|number))\b/i, "a hospital or NHS number"],
    [/\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b/, "a postcode"],
    [/\b\d{1,5} [A-Z][a-z]+ (Road|Street|Avenue|Lane|Drive|Close|Way|Crescent|Court|Place)\b/, "a street address"]
  ];

  function found(text) {
    var kinds = [];
    CHECKS.forEach(function (check) {
      var match = text.match(check[0]);
      if (match && (check[1].indexOf("number") < 0 || match[0].replace(/\D/g, "").length >= 10)) {
        kinds.push(check[1]);
      }
    });
    return kinds;
  }

  function attach(textarea) {
    var note = document.createElement("p");
    note.className = "flash flash-warning personal-details-live";
    note.setAttribute("role", "status");
    note.setAttribute("aria-live", "polite");
    note.hidden = true;
    textarea.insertAdjacentElement("afterend", note);
    var timer = null;
    textarea.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var kinds = found(textarea.value);
        note.hidden = kinds.length === 0;
        note.textContent = kinds.length
          ? "This seems to contain " + kinds.join(", ") +
            ". Everything here is public: you can still post it, but you may want to remove it."
          : "";
      }, 400);
    });
  }

  document.querySelectorAll("form textarea[name='body']").forEach(attach);
})();
