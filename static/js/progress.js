// Live progress of running snapshots on the overview: poll, show, reload when done.
(function () {
  "use strict";
  const boxes = document.querySelectorAll("[data-progress-url]");
  boxes.forEach(function (box) {
    const url = box.dataset.progressUrl;
    let wasActive = box.dataset.active === "1";
    async function poll() {
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const state = await response.json();
        if (state.active) {
          wasActive = true;
          box.hidden = false;
          box.textContent = "Snapshot #" + state.active.id + " " + state.active.status + ": " + state.active.progress +
            " (" + state.active.since + ")";
          setTimeout(poll, 2000);
        } else if (wasActive) {
          if (state.last && state.last.status === "failed") {
            box.className = "progress error";
            box.textContent = "Snapshot #" + state.last.id + " failed: " + state.last.error;
            setTimeout(function () { window.location.reload(); }, 4000);
          } else {
            window.location.reload();
          }
        }
      } catch (err) {
        box.textContent = "Progress unavailable (" + err.message + "); retrying.";
        setTimeout(poll, 5000);
      }
    }
    if (wasActive) poll();
    const form = box.closest("section") && box.closest("section").querySelector("form.snapshot-now");
    if (form) form.addEventListener("submit", function () { wasActive = true; });
  });
})();
