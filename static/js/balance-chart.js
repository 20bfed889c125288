// The balance page's charts: one uPlot chart per balance type (RUB and SMS count different
// things, so they never share an axis), drawn from the page's JSON block #balance-chart-data.
// The same figures are in the table beside the charts. A file, not an inline script: the
// Content-Security-Policy allows no inline code.
//
// The x axis spans the period asked for (data.start to data.end), not just the readings in
// it, so a day, a week and a month look different and one reading is not alone on an axis of
// years. A balance stays as read until the next reading: the line is drawn in steps.
//
// Each figure keeps its chart as `figure.uplot` and says `data-drawn="<points>"` once drawn,
// so that the browser test can compare what was drawn with the table.
(function () {
  "use strict";

  var COLORS = { RUB: "#0b5fff", SMS: "#1a7f37" };
  var OTHER_COLORS = ["#8250df", "#bf3989", "#9a6700", "#cf222e"];
  var HEIGHT = 220;
  // Tick labels, by tick spacing: [spacing, label, then what a tick adds where the year,
  // month, day... changes, mode]. Numeric day.month in Russian (uPlot's month names are
  // English), ISO-like month-day in English.
  var RU = (document.documentElement.lang || "").indexOf("ru") === 0;
  var DAY = RU ? "{DD}.{MM}" : "{MM}-{DD}";
  var FULL_DAY = RU ? "\n{DD}.{MM}.{YYYY}" : "\n{YYYY}-{MM}-{DD}";
  var TIME_TICKS = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, RU ? "{MM}.{YYYY}" : "{YYYY}-{MM}", null, null, null, null, null, null, 1],
    [3600 * 24, DAY, "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", FULL_DAY, null, "\n" + DAY, null, null, null, 1],
    [60, "{HH}:{mm}", FULL_DAY, null, "\n" + DAY, null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", FULL_DAY, null, "\n" + DAY, null, null, null, 1],
  ];

  function readData() {
    var block = document.getElementById("balance-chart-data");
    if (!block) {
      return null;
    }
    try {
      return JSON.parse(block.textContent);
    } catch (e) {
      return null;
    }
  }

  // Figures as the server writes them in the page's language (webapp/formatting.py's money
  // and count): 1,234.50 in English, 1 234,50 in Russian.
  var LANG = document.documentElement.lang || "en";

  function formatter(decimals) {
    var format = new Intl.NumberFormat(LANG, {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
    return function (value) {
      return value == null ? "—" : format.format(value);
    };
  }

  function colorOf(type, index) {
    return COLORS[type] || OTHER_COLORS[index % OTHER_COLORS.length];
  }

  function draw(figure, data, series, index) {
    var area = figure.querySelector(".chart-area") || figure;
    var format = formatter(series.decimals);
    var color = colorOf(series.type, index);
    var count = data.times.length;
    var options = {
      width: Math.max(area.clientWidth, 200),
      height: HEIGHT,
      // Times as the team reads them, whatever the browser's own zone.
      tzDate: function (ts) {
        return uPlot.tzDate(new Date(ts * 1000), data.zone);
      },
      // A fixed range: drag-to-zoom would be undone by it, so dragging is off.
      scales: { x: { time: true, range: [data.start, data.end] } },
      cursor: { drag: { x: false, y: false } },
      series: [
        {
          label: data.timeLabel, // from the page, in its language (views/balance.py _chart)
          // Each reading's time as the table beside the chart writes it (data.labels).
          value: function (u, ts, seriesIdx, idx) {
            return idx != null && data.labels ? data.labels[idx] : "—";
          },
        },
        {
          label: series.label || series.type,
          stroke: color,
          fill: color + "14",
          width: 2,
          paths: uPlot.paths.stepped({ align: 1 }),
          spanGaps: true,
          points: { show: count <= 60, size: 6, fill: color },
          value: function (u, value) {
            return format(value);
          },
        },
      ],
      axes: [
        // Ticks far enough apart for "2026-05-01" under "14:00".
        { stroke: "#59636e", grid: { stroke: "#eaeef2" }, space: 80, values: TIME_TICKS },
        {
          stroke: "#59636e",
          grid: { stroke: "#eaeef2" },
          size: 80,
          values: function (u, splits) {
            return splits.map(format);
          },
        },
      ],
      legend: { live: true },
    };
    // A page put back from htmx's history holds the old chart's markup, not its drawing.
    area.replaceChildren();
    var chart = new uPlot(options, [data.times, series.values], area);
    figure.uplot = chart;
    figure.setAttribute("data-drawn", String(count));
    if (window.ResizeObserver) {
      var observer = new ResizeObserver(function () {
        if (area.clientWidth && Math.abs(area.clientWidth - chart.width) > 1) {
          chart.setSize({ width: area.clientWidth, height: HEIGHT });
        }
      });
      observer.observe(area);
      figure.balanceObserver = observer;
    }
  }

  function drawAll() {
    if (typeof uPlot === "undefined") {
      return;
    }
    var figures = document.querySelectorAll("[data-balance-chart]");
    if (!figures.length) {
      return;
    }
    var data = readData();
    if (!data) {
      return;
    }
    data.series.forEach(function (series, index) {
      for (var i = 0; i < figures.length; i++) {
        var figure = figures[i];
        if (figure.getAttribute("data-balance-chart") === series.type && !figure.uplot) {
          draw(figure, data, series, index);
        }
      }
    });
  }

  // Charts about to be replaced by htmx let go of their listeners and observers. Before
  // htmx keeps a copy of the page for the back button, the copy loses its charts (a canvas is
  // saved blank): they are drawn again when the page comes back.
  function release(event) {
    var target = (event.detail && (event.detail.target || event.detail.historyElt)) || null;
    if (!target || !target.querySelectorAll) {
      return;
    }
    target.querySelectorAll("[data-balance-chart]").forEach(function (figure) {
      if (figure.balanceObserver) {
        figure.balanceObserver.disconnect();
        figure.balanceObserver = null;
      }
      if (figure.uplot) {
        figure.uplot.destroy();
        figure.uplot = null;
      }
      figure.removeAttribute("data-drawn");
    });
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:beforeSwap", release);
  document.addEventListener("htmx:beforeHistorySave", release);
  document.addEventListener("htmx:load", drawAll);
  // Back and forward through pushed ranges: htmx puts the saved page back.
  document.addEventListener("htmx:historyRestore", drawAll);
})();
