/* Draws the dashboard's charts from the data the page carries (#chart-data). The tables
   beside them hold the same numbers, so the page reads without this script. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var colours = ["#0969da", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#1b7c83", "#bc4c00", "#bf3989"];
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  // One colour per channel, the same in every chart.
  var channels = Object.keys(Object.assign({}, data.visits.channels, data.applicants, data.conversion)).sort();
  function colour(name) { return colours[channels.indexOf(name) % colours.length]; }

  function visits(canvas) {
    var names = Object.keys(data.visits.channels);
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: data.visits.days,
        datasets: names.map(function (name) {
          return { label: name, data: data.visits.channels[name], borderColor: colour(name),
                   backgroundColor: colour(name), cubicInterpolationMode: "monotone" };
        })
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "visits" } } } }
    });
  }

  function bars(values, label, colourOf) {
    return function (canvas) {
      var names = Object.keys(values);
      return new Chart(canvas, {
        type: "bar",
        data: { labels: names,
                datasets: [{ label: label, data: names.map(function (n) { return values[n]; }),
                             backgroundColor: names.map(colourOf) }] },
        options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } }
      });
    };
  }

  var charts = {
    visits: visits,
    applicants: bars(data.applicants, "applicants", colour),
    conversion: bars(data.conversion, "applicants per hundred visits", colour),
    boards: bars(data.boards, "applicants per hundred visits",
                 function (name, i) { return colours[colours.length - 1 - i % colours.length]; })
  };
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    charts[canvas.dataset.chart](canvas);
  });
})();
