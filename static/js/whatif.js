// What-if form. The server checks everything; this only saves a round trip and a wait.
document.querySelectorAll("form.whatif-form").forEach(function (form) {
  const text = form.querySelector("textarea[data-max-bytes]");
  const tooBig = document.getElementById("whatif-too-big");
  form.addEventListener("submit", function (event) {
    const button = event.submitter;
    if (!button || button.name !== "run") return;
    // Past Django's request size limit the server could only answer a bare 400.
    const size = new Blob([text.value]).size;
    if (size > Number(text.dataset.maxBytes)) {
      event.preventDefault();
      tooBig.textContent = tooBig.dataset.message.replace("{size}", size.toLocaleString("en"));
      tooBig.hidden = false;
      tooBig.scrollIntoView();
      return;
    }
    tooBig.hidden = true;
    // A big cluster takes seconds: say it is working, and keep a second click from
    // starting the same comparison again. Disabled later in this turn, the button
    // would not be submitted.
    setTimeout(function () {
      button.disabled = true;
      button.textContent = button.dataset.busyText;
    }, 0);
  });
});

// A what-if run in a worker: show its progress, then its result (a reload draws it).
document.querySelectorAll("[data-run-url]").forEach(function (box) {
  const FINISHED = ["complete", "failed"];
  async function poll() {
    try {
      const response = await fetch(box.dataset.runUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const run = await response.json();
      if (FINISHED.includes(run.status)) {
        window.location.reload();
        return;
      }
      box.classList.remove("error");
      box.textContent = "What-if #" + run.id + " " + run.status + ": " + run.progress + "… (" + run.since + ")";
      if (run.status === "pending" && run.waited_seconds > 30) {
        box.textContent = "What-if #" + run.id + " has waited " + run.since +
          " for a worker: is the Celery worker running? (make run starts it; see the README)";
      }
      setTimeout(poll, 1000);
    } catch (err) {
      box.classList.add("error");
      box.textContent = "Progress unavailable (" + err.message + "); retrying.";
      setTimeout(poll, 3000);
    }
  }
  poll();
});
