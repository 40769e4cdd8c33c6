// Hide the welcome box in place: the same /welcome/hide link sets the cookie, fetched
// instead of followed, so the reader keeps their scroll position. Without JS the link works.
(function () {
  var link = document.querySelector("[data-welcome-hide]");
  var box = document.querySelector("[data-welcome]");
  if (!link || !box || !window.fetch) return;
  link.addEventListener("click", function (event) {
    event.preventDefault();
    fetch(link.href, { credentials: "same-origin", redirect: "manual" }).finally(function () {
      box.hidden = true;
      var main = document.getElementById("main");
      if (main) main.focus();
    });
  });
})();
