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

  // What a part of the page says of itself (data-announce on an element with an id: "Sending.
  // 12 of 20 settled.") is announced when it changes, or when the part first appears after
  // the page loaded (the report of a paste), by the page's one polite live region
  // (#live-announcer, in base.html): a screen reader hears the progress once, not every row
  // of a table that a poll replaced, and nothing on page load.
  var announced = null;
  function parts() {
    return document.querySelectorAll("[data-announce][id]");
  }
  document.addEventListener("DOMContentLoaded", function () {
    announced = {};
    parts().forEach(function (elt) {
      announced[elt.id] = elt.getAttribute("data-announce");
    });
  });
  document.addEventListener("htmx:afterSettle", function () {
    var region = document.getElementById("live-announcer");
    if (!region || announced === null) return;
    var news = [];
    parts().forEach(function (elt) {
      var text = elt.getAttribute("data-announce");
      if (announced[elt.id] !== text && text) news.push(text);
      announced[elt.id] = text;
    });
    if (news.length) region.textContent = news.join(" ");
  });

  // A part of the page being fetched again says so (aria-busy) until its answer is in.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.setAttribute) target.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.removeAttribute) target.removeAttribute("aria-busy");
  });
})();
