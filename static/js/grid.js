// The section grid, progressively enhanced: arrow keys move between cells (one tab stop for
// the whole grid), and a chosen cell opens its evidence and explanation in a side panel
// instead of a new page. Without this script every cell is a plain link to the same content.
(function () {
  "use strict";
  var table = document.getElementById("grid");
  var panel = document.getElementById("cell-panel");
  if (!table || !panel) {
    return;
  }
  var rows = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
    return Array.prototype.slice.call(row.querySelectorAll("td a"));
  });
  var current = null;
  var opener = null;

  function activate(link) {
    if (current) {
      current.tabIndex = -1;
    }
    current = link;
    current.tabIndex = 0;
  }

  rows.forEach(function (links) {
    links.forEach(function (link) {
      link.tabIndex = -1;
    });
  });
  if (rows.length && rows[0].length) {
    activate(rows[0][0]);
  }

  function position(link) {
    for (var r = 0; r < rows.length; r += 1) {
      var c = rows[r].indexOf(link);
      if (c >= 0) {
        return [r, c];
      }
    }
    return null;
  }

  table.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("td a")) {
      activate(event.target);
    }
  });

  table.addEventListener("keydown", function (event) {
    var at = position(event.target);
    if (!at) {
      return;
    }
    var r = at[0];
    var c = at[1];
    var moves = {
      ArrowRight: [r, c + 1],
      ArrowLeft: [r, c - 1],
      ArrowDown: [r + 1, c],
      ArrowUp: [r - 1, c],
      Home: [r, 0],
      End: [r, rows[r].length - 1],
    };
    var target = moves[event.key];
    if (!target) {
      return;
    }
    var row = rows[target[0]];
    var link = row && row[target[1]];
    if (link) {
      event.preventDefault();
      activate(link);
      link.focus();
    }
  });

  function closePanel() {
    panel.hidden = true;
    panel.innerHTML = "";
    if (opener) {
      opener.focus();
    }
  }

  table.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("td a") : null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    opener = link;
    var url = link.href + (link.href.indexOf("?") >= 0 ? "&" : "?") + "panel=1";
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("panel " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        // The fragment is our own server-rendered, escaped template (same origin).
        panel.innerHTML = html;
        var close = document.createElement("button");
        close.type = "button";
        close.className = "close";
        close.textContent = "Close";
        close.addEventListener("click", closePanel);
        panel.insertBefore(close, panel.firstChild);
        panel.hidden = false;
        panel.focus();
      })
      .catch(function () {
        window.location.href = link.href;
      });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      closePanel();
    }
  });
})();
