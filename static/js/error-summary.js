// The error summary (templates/_forms.html, the GOV.UK pattern): a full-page answer with errors
// focuses it, so it is read first; a click on one of its links focuses the field it names and
// scrolls the field's label into view (a plain #link would only scroll, not focus). When an
// htmx answer replaces a field's errors out of band, the field's aria-invalid and
// aria-describedby follow. A file, not an inline script: the Content-Security-Policy allows none.
(function () {
  "use strict";

  function focusSummary() {
    var summary = document.querySelector(".error-summary[data-focus-on-load]");
    if (summary) {
      summary.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) {
      return;
    }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) {
      return;
    }
    event.preventDefault();
    // A group (the recipients' fieldset, the sender's box): its first control.
    var control = field.matches("input, select, textarea, button")
      ? field
      : field.querySelector("input:not([type=hidden]), select, textarea, a[href]") || field;
    var label = document.querySelector("label[for='" + control.id + "']");
    var fieldset = control.closest("fieldset");
    (label || (fieldset && fieldset.querySelector("legend")) || control).scrollIntoView();
    control.focus({ preventScroll: true });
  });

  function syncField(box) {
    var field = document.getElementById(box.getAttribute("data-error-for"));
    if (!field) {
      return;
    }
    var ids = Array.prototype.map.call(box.querySelectorAll(".field-error"), function (p) {
      return p.id;
    });
    var kept = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id.indexOf(field.id + "-error") !== 0;
    });
    var described = kept.concat(ids);
    if (described.length) {
      field.setAttribute("aria-describedby", described.join(" "));
    } else {
      field.removeAttribute("aria-describedby");
    }
    if (ids.length) {
      field.setAttribute("aria-invalid", "true");
    } else {
      field.removeAttribute("aria-invalid");
    }
  }

  // Fired on the element swapped in (detail.target is the one it replaced).
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var box = event.target;
    if (box && box.hasAttribute && box.hasAttribute("data-error-for")) {
      syncField(box);
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusSummary);
  } else {
    focusSummary();
  }
})();
