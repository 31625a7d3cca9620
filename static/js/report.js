// Live progress of reports: while a report is waiting or being generated, the status region
// (data-poll) is fetched again every two seconds from the same page, until it is ready or
// failed. Without this script, reloading the page shows the same thing.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), function (region) {
    var url = region.getAttribute("data-poll");
    var tries = 0;
    function poll() {
      tries += 1;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          // Our own server-rendered, escaped fragment (same origin).
          region.innerHTML = html;
          var body = region.querySelector("[data-running]");
          if (body && body.getAttribute("data-running") === "1" && tries < 900) {
            window.setTimeout(poll, 2000);
          }
        })
        .catch(function () {
          if (tries < 900) {
            window.setTimeout(poll, 5000);
          }
        });
    }
    window.setTimeout(poll, 1000);
  });
})();

// The request form offers only the formats the chosen report comes in (data-formats on the
// format list; static/js/when.js shows only the scope fields it uses).
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) {
    return;
  }
  var kind = form.querySelector("select[name=kind]");
  var format = form.querySelector("select[name=file_format]");
  if (!kind || !format) {
    return;
  }
  var formats = {};
  (format.getAttribute("data-formats") || "").split(";").forEach(function (pair) {
    var parts = pair.split(":");
    if (parts.length === 2) {
      formats[parts[0]] = parts[1].split(",");
    }
  });
  function show() {
    var offered = formats[kind.value] || [];
    var first = null;
    Array.prototype.forEach.call(format.options, function (option) {
      var ok = offered.indexOf(option.value) >= 0;
      option.hidden = !ok;
      option.disabled = !ok;
      if (ok && first === null) {
        first = option.value;
      }
    });
    if (offered.indexOf(format.value) < 0 && first !== null) {
      format.value = first;
    }
  }
  kind.addEventListener("change", show);
  show();
})();
