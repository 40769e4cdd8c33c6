/* Similar questions while typing a title on the ask page.
   Progressive enhancement: the page works without it. Reads /api/v1/search and
   renders links into #similar-questions (an aria-live region) with textContent only. */
(function () {
  "use strict";
  var input = document.getElementById("title");
  var box = document.getElementById("similar-questions");
  if (!input || !box || !window.fetch) {
    return;
  }
  var timer = null;
  var controller = null;
  var lastQuery = "";

  function clear() {
    while (box.firstChild) {
      box.removeChild(box.firstChild);
    }
  }

  function render(results) {
    clear();
    if (!results.length) {
      return;
    }
    var heading = document.createElement("p");
    heading.className = "similar-heading";
    heading.textContent = "Similar questions already asked - one may answer yours:";
    var list = document.createElement("ul");
    list.className = "similar-list";
    results.forEach(function (item) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = item.url;
      link.textContent = item.title;
      li.appendChild(link);
      list.appendChild(li);
    });
    box.appendChild(heading);
    box.appendChild(list);
  }

  function lookup() {
    var q = input.value.trim();
    if (q === lastQuery) {
      return;
    }
    lastQuery = q;
    if (controller) {
      controller.abort();
    }
    if (q.length < 8) {
      clear();
      return;
    }
    controller = window.AbortController ? new AbortController() : null;
    var url = "/api/v1/search?per_page=5&q=" + encodeURIComponent(q.slice(0, 200));
    fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (resp) {
        return resp.ok ? resp.json() : { results: [] };
      })
      .then(function (data) {
        render((data && data.results) || []);
      })
      .catch(function () {
        /* offline, aborted or rebuilding: leave the form as it is */
      });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(lookup, 350);
  });
  if (input.value.trim()) {
    lookup();
  }
})();
