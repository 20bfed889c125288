// A filter box for a long select (the team's time zone and phone region pickers): typing
// narrows the options to those whose text or data-search holds every word typed, in any
// case and without accents ("моск", "russia", "utc+3"). Progressive enhancement: the box is
// hidden until this script shows it, and the select works as usual without it. Filtering
// only hides options: it never changes the select's value (the form submits what was chosen
// until the person picks another), and the chosen option stays visible even when it does not
// match. When nothing else matches, the box says so.
// A file, not an inline script: the Content-Security-Policy allows no inline code.
(function () {
  "use strict";

  function folded(text) {
    return text
      .toLocaleLowerCase()
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "");
  }

  function setUp(box) {
    var select = document.getElementById(box.getAttribute("data-filter-for"));
    var input = box.querySelector("input");
    var status = box.querySelector("[data-filter-status]");
    if (!select || !input || box.filterReady) {
      return;
    }
    box.filterReady = true;
    var options = Array.prototype.map.call(select.options, function (option) {
      return {
        option: option,
        text: folded(option.text + " " + (option.getAttribute("data-search") || "")),
      };
    });

    function apply() {
      var words = folded(input.value).split(/\s+/).filter(Boolean);
      var found = false;
      options.forEach(function (entry) {
        var matches = words.every(function (word) {
          return entry.text.indexOf(word) !== -1;
        });
        // The chosen option is never hidden: the value stays what the person chose.
        entry.option.hidden = !matches && !entry.option.selected;
        found = found || matches;
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
      if (status) {
        status.textContent = found ? "" : status.getAttribute("data-none");
      }
    }

    input.addEventListener("input", apply);
    // A newly picked option may not match: the one it replaced is hidden again if it does not.
    select.addEventListener("change", apply);
    // Enter in the box must not submit the form half-chosen: it moves to the select instead.
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        select.focus();
      }
    });
    box.hidden = false;
  }

  function setUpAll() {
    document.querySelectorAll("[data-filter-for]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
  document.addEventListener("htmx:load", setUpAll);
})();
