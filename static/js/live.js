// Live regions (elements with data-live-poll) poll with htmx "every Ns". While the tab is
// hidden their polls are cancelled; when it shows again they refresh at once ("live-resume").
// A file, not an inline script: the Content-Security-Policy allows no inline code, and
// htmx's trigger filters ([...]) need eval, which the CSP and htmx-config forbid too.
(function () {
  "use strict";

  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.visibilityState === "hidden" && elt && elt.hasAttribute("data-live-poll")) {
      event.preventDefault();
    }
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && document.querySelector("[data-live-poll]")) {
      document.body.dispatchEvent(new CustomEvent("live-resume"));
    }
  });
})();
