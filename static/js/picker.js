// Pickers: a search box whose suggestions come from the page's own search URL (data-picker) as
// the user types; the chosen label goes back in the box and the server resolves it on submit.
// Without this script the box still takes a typed name or code.
(function () {
  "use strict";
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-picker");
    var timer = null;
    var asked = "";
    if (!list || !url) {
      return;
    }
    function fill(labels) {
      list.innerHTML = "";
      labels.forEach(function (label) {
        var option = document.createElement("option");
        option.value = label;
        list.appendChild(option);
      });
    }
    function ask() {
      var text = input.value.trim();
      if (text.length < 2 || text === asked) {
        return;
      }
      asked = text;
      var extra = input.getAttribute("data-picker-with");
      var query = "q=" + encodeURIComponent(text);
      if (extra) {
        var other = document.getElementById(extra);
        if (other && other.value) {
          query += "&" + encodeURIComponent(other.name) + "=" + encodeURIComponent(other.value);
        }
      }
      fetch(url + (url.indexOf("?") >= 0 ? "&" : "?") + query, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : { results: [] };
        })
        .then(function (data) {
          if (input.value.trim() === text) {
            fill(data.results || []);
          }
        })
        .catch(function () {
          fill([]);
        });
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 200);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("input[data-picker]"), attach);
})();
