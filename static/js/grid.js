// The section grid, progressively enhanced. Without this script every cell is a plain link to
// its evidence and explanation, and every column's code shows its statement on focus or hover.
// With it:
// - the arrow keys move between cells and up to the column headers (one tab stop for the grid);
// - a chosen cell opens its evidence and explanation in a side panel instead of a new page;
// - a column's code shows its full code and statement when chosen (tap, click, Enter);
// - a teacher types levels in the cells (a level's key: the next learner's cell is chosen;
//   Enter moves down, Delete clears, Escape leaves typing) and one save records them, one piece
//   of evidence per learner. Typed levels survive a refused save (kept in sessionStorage).
(function () {
  "use strict";
  var table = document.getElementById("grid");
  var panel = document.getElementById("cell-panel");
  if (!table || !panel) {
    return;
  }
  var CELL = /\/learners\/(\d+)\/standards\/(\d+)\//;
  var rows = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
    return Array.prototype.slice.call(row.querySelectorAll("td a"));
  });
  var headers = Array.prototype.slice.call(table.querySelectorAll("thead button.col"));
  var focusInfo = document.getElementById("grid-focus");
  var current = null;
  var opener = null;

  // --- moving around ----------------------------------------------------------------------------
  function activate(element) {
    if (current && current !== element) {
      current.tabIndex = -1;
    }
    current = element;
    current.tabIndex = 0;
  }

  rows.forEach(function (links) {
    links.forEach(function (link) {
      link.tabIndex = -1;
    });
  });
  if (rows.length && rows[0].length) {
    rows[0][0].id = "grid-start";
    activate(rows[0][0]);
  }

  // [row, column] of a cell link (row -1: a column header), or null.
  function position(element) {
    var h = headers.indexOf(element);
    if (h >= 0) {
      return [-1, h];
    }
    for (var r = 0; r < rows.length; r += 1) {
      var c = rows[r].indexOf(element);
      if (c >= 0) {
        return [r, c];
      }
    }
    return null;
  }

  function at(r, c) {
    if (r === -1) {
      return headers[c] || null;
    }
    var row = rows[r];
    return (row && row[c]) || null;
  }

  function go(element) {
    if (element) {
      activate(element);
      element.focus();
    }
  }

  // The next learner's cell in the same column; after the last learner, the first learner's
  // cell in the next column.
  function below(r, c) {
    if (r + 1 < rows.length) {
      return at(r + 1, c);
    }
    return at(0, c + 1);
  }

  function columnText(c) {
    var tip = headers[c] && headers[c].parentNode.querySelector(".col-tip");
    return tip ? tip.textContent : "";
  }

  table.addEventListener("focusin", function (event) {
    var at_ = position(event.target);
    if (!at_) {
      return;
    }
    activate(event.target);
    if (focusInfo && at_[0] >= 0) {
      var name = event.target.closest("tr").querySelector("th").textContent;
      focusInfo.textContent = name + " · " + columnText(at_[1]);
      focusInfo.hidden = false;
    }
  });

  // --- column headers: the full code and statement on tap, click or Enter ---------------------
  headers.forEach(function (button) {
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () {
      var th = button.parentNode;
      var open = !th.classList.contains("open");
      headers.forEach(function (other) {
        other.parentNode.classList.remove("open");
        other.setAttribute("aria-expanded", "false");
      });
      th.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });

  // --- the cell panel ---------------------------------------------------------------------------
  function closePanel() {
    panel.hidden = true;
    panel.innerHTML = "";
    if (opener) {
      opener.focus();
    }
  }

  function openPanel(link) {
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
  }

  table.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("td a") : null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    openPanel(link);
  });

  // --- typing levels ----------------------------------------------------------------------------
  var form = document.getElementById("grid-save");
  var levels = {};
  try {
    JSON.parse(table.getAttribute("data-levels") || "[]").forEach(function (level) {
      levels[level.key] = level;
    });
  } catch (error) {
    levels = {};
  }
  var canType = form && Object.keys(levels).length > 0;
  var typed = {}; // "learner:standard" -> {level, link}
  var originals = {}; // "learner:standard" -> {html, css}
  var typing = false;
  var submitting = false;
  var storageKey = "grid-typed-" + table.getAttribute("data-section");
  var status = document.getElementById("grid-save-status");
  var saveButton = document.getElementById("grid-save-button");

  function keyOf(link) {
    var match = CELL.exec(link.getAttribute("href") || "");
    return match ? match[1] + ":" + match[2] : null;
  }

  function counts() {
    var learners = {};
    var n = 0;
    Object.keys(typed).forEach(function (key) {
      learners[key.split(":")[0]] = true;
      n += 1;
    });
    return [n, Object.keys(learners).length];
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  function refresh() {
    var c = counts();
    form.hidden = c[0] === 0;
    var what = plural(c[0], "level", "levels") + " for " + plural(c[1], "learner", "learners");
    saveButton.textContent = "Save " + what;
    status.textContent =
      c[0] === 0 ? "" : what + " typed, not saved yet (one piece of evidence per learner).";
  }

  function setTyped(link, level) {
    var key = keyOf(link);
    if (!key) {
      return;
    }
    var cell = link.parentNode;
    if (!originals[key]) {
      originals[key] = { html: link.innerHTML, css: cell.className };
    }
    typed[key] = { level: level, link: link };
    cell.className = level.css + " typed";
    link.textContent = level.label;
    var note = document.createElement("span");
    note.className = "visually-hidden";
    note.textContent = " (typed, not saved)";
    link.appendChild(note);
  }

  function clearTyped(link) {
    var key = keyOf(link);
    if (!key || !typed[key]) {
      return;
    }
    link.innerHTML = originals[key].html;
    link.parentNode.className = originals[key].css;
    delete typed[key];
    delete originals[key];
  }

  function entries() {
    return Object.keys(typed).map(function (key) {
      return key + ":" + typed[key].level.points;
    });
  }

  function save() {
    var holder = document.getElementById("grid-save-entries");
    holder.innerHTML = "";
    entries().forEach(function (value) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "rating";
      input.value = value;
      holder.appendChild(input);
    });
    try {
      window.sessionStorage.setItem(storageKey, JSON.stringify(entries()));
    } catch (error) {
      // Private browsing: nothing kept, the save goes on.
    }
    submitting = true;
  }

  if (canType) {
    form.addEventListener("submit", save);
    document.getElementById("grid-discard").addEventListener("click", function () {
      Object.keys(typed).forEach(function (key) {
        clearTyped(typed[key].link);
      });
      typing = false;
      refresh();
      if (current) {
        current.focus();
      }
    });
    window.addEventListener("beforeunload", function (event) {
      if (!submitting && counts()[0] > 0) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    // Levels typed before a save the server refused come back (the page says so).
    var kept = null;
    try {
      kept = JSON.parse(window.sessionStorage.getItem(storageKey) || "null");
      window.sessionStorage.removeItem(storageKey);
    } catch (error) {
      kept = null;
    }
    if (kept && /[?&]unsaved=1\b/.test(window.location.search)) {
      var byKey = {};
      rows.forEach(function (links) {
        links.forEach(function (link) {
          byKey[keyOf(link)] = link;
        });
      });
      var byPoints = {};
      Object.keys(levels).forEach(function (k) {
        byPoints[levels[k].points] = levels[k];
      });
      kept.forEach(function (value) {
        var parts = String(value).split(":");
        var link = byKey[parts[0] + ":" + parts[1]];
        var level = byPoints[parts[2]];
        if (link && level) {
          setTyped(link, level);
        }
      });
      typing = counts()[0] > 0;
      refresh();
    }
  }

  table.addEventListener("keydown", function (event) {
    var spot = position(event.target);
    if (!spot) {
      return;
    }
    var r = spot[0];
    var c = spot[1];
    var inCell = r >= 0;
    if (canType && inCell && (event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      if (counts()[0] > 0) {
        save();
        form.submit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (canType && inCell && levels[event.key]) {
      event.preventDefault();
      setTyped(event.target, levels[event.key]);
      typing = true;
      refresh();
      go(below(r, c));
      return;
    }
    if (canType && inCell && (event.key === "Delete" || event.key === "Backspace")) {
      event.preventDefault();
      clearTyped(event.target);
      refresh();
      return;
    }
    if (event.key === "Enter" && inCell && typing) {
      event.preventDefault();
      go(below(r, c));
      return;
    }
    if (event.key === "Escape" && typing && panel.hidden) {
      typing = false;
      status.textContent = "Typing paused: Enter opens a cell again; typed levels are kept.";
      return;
    }
    var moves = {
      ArrowRight: [r, c + 1],
      ArrowLeft: [r, c - 1],
      ArrowDown: [r + 1, c],
      ArrowUp: [r - 1, c],
      Home: [r, 0],
      End: [r, (r === -1 ? headers.length : rows[r].length) - 1],
    };
    var target = moves[event.key];
    if (!target) {
      return;
    }
    var element = at(target[0], target[1]);
    if (element) {
      event.preventDefault();
      go(element);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      closePanel();
    }
  });
})();
