// Live updates from the console's server-sent events. A DLT's pages (`/dlt/<dlt>/live`): a dead
// letter's status changes in place when the ledger says so, and new dead letters are announced.
// A job's page (`/jobs/<id>/events`): its progress sentence changes in place, and the page
// reloads when the job ends, to show its results. It only ever sets text and class names, never
// markup; without it the pages read the same, as of their loading (a job's page reloads itself).
(function () {
  "use strict";
  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) {
    return;
  }
  var source = new EventSource(main.getAttribute("data-live"));
  // Shown by the stylesheet as a "live" mark while the stream is open.
  source.addEventListener("open", function () {
    main.setAttribute("data-live-state", "open");
  });
  source.addEventListener("error", function () {
    main.setAttribute("data-live-state", "closed");
  });
  source.addEventListener("status", function (event) {
    var parts = event.data.split(" ");
    var cells = document.querySelectorAll("[data-status-of]");
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].getAttribute("data-status-of") === parts[0]) {
        cells[i].textContent = parts[1];
        cells[i].className = "status-" + parts[1];
      }
    }
  });
  var added = 0;
  function announce(text) {
    var note = document.getElementById("live-added");
    if (note) {
      note.textContent = text;
      note.hidden = false;
    }
  }
  source.addEventListener("added", function () {
    // A tail fetches its rows again (htmx, `hx-trigger="rebound:added from:body"`).
    document.body.dispatchEvent(new CustomEvent("rebound:added"));
    added += 1;
    announce(added + " new since this page loaded: reload to see them");
  });
  source.addEventListener("progress", function (event) {
    var line = document.querySelector("[data-job-progress]");
    if (line) {
      line.textContent = event.data;
    }
  });
  source.addEventListener("finished", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("lagged", function () {
    announce("Many changes since this page loaded: reload to see them");
  });
})();
