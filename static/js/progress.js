// Live progress on the overview: poll while a snapshot runs and while the newest snapshot
// is being analysed; reload once its figures are stored, so they show without a reload.
(function () {
  "use strict";
  const FINISHED = ["complete", "failed"];
  const boxes = document.querySelectorAll("[data-progress-url]");
  boxes.forEach(function (box) {
    const url = box.dataset.progressUrl;
    let waiting = box.dataset.active === "1" || box.dataset.analysing === "1";
    async function poll() {
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const state = await response.json();
        if (state.active) {
          waiting = true;
          box.hidden = false;
          box.className = "progress";
          box.textContent = "Snapshot #" + state.active.id + " " + state.active.status + ": " + state.active.progress +
            " (" + state.active.since + ")";
          setTimeout(poll, 2000);
        } else if (state.last && state.last.status === "failed" &&
                   (!state.analysis || state.last.id > state.analysis.snapshot)) {
          box.hidden = false;
          box.className = "progress error";
          box.textContent = "Snapshot #" + state.last.id + " failed: " + state.last.error;
          setTimeout(function () { window.location.reload(); }, 4000);
        } else if (state.analysis && !FINISHED.includes(state.analysis.status)) {
          waiting = true;
          box.hidden = false;
          box.className = "progress";
          box.textContent = state.analysis.status === "pending" && state.analysis.waited_seconds > 60
            ? "Snapshot #" + state.analysis.snapshot + " stored " + state.analysis.waiting +
              " ago and still waiting for a worker to analyse it: is the Celery worker running? " +
              "(make run starts it; see the README)"
            : "Snapshot #" + state.analysis.snapshot + " stored; analysing its policies…";
          setTimeout(poll, 2000);
        } else {
          window.location.reload();
        }
      } catch (err) {
        box.textContent = "Progress unavailable (" + err.message + "); retrying.";
        setTimeout(poll, 5000);
      }
    }
    if (waiting) poll();
    const form = box.closest("section") && box.closest("section").querySelector("form.snapshot-now");
    if (form) form.addEventListener("submit", function () { waiting = true; });
  });
})();
