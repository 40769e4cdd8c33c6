/* Keeps the question or reply being written as a server-side draft.
 *
 * The form works without this script (its "Save draft" button posts to /drafts/save).
 * With it, the draft is saved every few seconds when it changed, and once more when
 * the page is hidden or left (navigator.sendBeacon, CSRF token in the body). Posting
 * the form itself does not save: the server discards the draft with the post.
 */
(function () {
  "use strict";
  var button = document.querySelector("[data-draft-save]");
  if (!button || !button.form || !window.FormData || !window.fetch) {
    return;
  }
  var form = button.form;
  var url = button.getAttribute("formaction");
  var status = form.querySelector("[data-draft-status]");
  var INTERVAL_MS = 5000;
  var leaving = false;

  function snapshot() {
    var parts = [];
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf_token") {
        parts.push(key + "=" + value);
      }
    });
    return parts.join("&");
  }

  var saved = snapshot();

  function payload() {
    var data = new FormData(form);
    data.set("autosave", "1");
    return data;
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function save(onLeave) {
    if (leaving) {
      return;
    }
    var current = snapshot();
    if (current === saved) {
      return;
    }
    saved = current;
    if (onLeave && navigator.sendBeacon) {
      navigator.sendBeacon(url, payload());
      return;
    }
    fetch(url, { method: "POST", body: payload(), credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) {
          say("Draft saved at " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + ".");
        } else {
          saved = "";
        }
      })
      .catch(function () {
        saved = "";
      });
  }

  window.setInterval(function () { save(false); }, INTERVAL_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      save(true);
    }
  });
  window.addEventListener("pagehide", function () { save(true); });
  form.addEventListener("submit", function (event) {
    // Posting or previewing: the server keeps (preview) or discards (post) the draft.
    if (event.submitter !== button) {
      leaving = true;
    }
  });
})();
