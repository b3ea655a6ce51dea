// carepulse live updates: a few lines in the spirit of htmx's SSE extension, written for this app.
// Any element with data-live-src is re-fetched (its <tbody id="rows"> replaced) when the server
// sends a "change" event on /events. Without JavaScript the pages still work (reload to update).
(function () {
  "use strict";
  var target = document.querySelector("[data-live-src]");
  var badge = document.getElementById("live");
  if (!window.EventSource || !badge) { return; }
  var pending = null;

  function mark(on) {
    badge.hidden = false;
    badge.className = "live " + (on ? "on" : "off");
    badge.textContent = on ? badge.dataset.on : badge.dataset.off;
  }

  function refresh() {
    if (!target) { return; }
    var rows = target.querySelector("#rows");
    fetch(target.dataset.liveSrc, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var before = rows.querySelectorAll("tr[data-case]").length;
        rows.innerHTML = html;
        var after = rows.querySelectorAll("tr[data-case]").length;
        var note = document.getElementById("new-cases");
        if (note && after > before) { note.hidden = false; setTimeout(function () { note.hidden = true; }, 8000); }
        document.dispatchEvent(new CustomEvent("carepulse:refreshed", { detail: { rows: after } }));
      })
      .catch(function () { mark(false); });
  }

  var source = new EventSource("/events");
  source.addEventListener("hello", function () { mark(true); });
  source.addEventListener("change", function () {
    mark(true);
    // Several changes in a burst give one refresh.
    if (pending) { clearTimeout(pending); }
    pending = setTimeout(refresh, 300);
  });
  source.onerror = function () { mark(false); };
}());
