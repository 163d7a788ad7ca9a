// Flow upload. The server checks the size too; this says it before the upload starts.
document.querySelectorAll("form.flow-upload").forEach(function (form) {
  const input = form.querySelector("input[type=file]");
  const tooBig = document.getElementById("flow-too-big");
  form.addEventListener("submit", function (event) {
    const file = input.files[0];
    if (file && file.size > Number(input.dataset.maxBytes)) {
      event.preventDefault();
      tooBig.textContent = tooBig.dataset.message
        .replace("{name}", file.name)
        .replace("{size}", file.size.toLocaleString("en"));
      tooBig.hidden = false;
      return;
    }
    tooBig.hidden = true;
    // Importing a big file takes seconds: say so, and keep a second click from
    // importing it twice. Disabled later in this turn, the button is still submitted.
    const button = form.querySelector("button[type=submit]");
    setTimeout(function () {
      button.disabled = true;
      button.textContent = button.dataset.busyText;
    }, 0);
  });
});

// A replay in a worker: show its progress, then its result (a reload draws it).
document.querySelectorAll("#replay-progress [data-run-url]").forEach(function (box) {
  const FINISHED = ["complete", "failed"];
  const bar = box.parentElement.querySelector("progress");
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
      box.textContent = "Replay #" + run.id + " " + run.status + ": " + run.progress + "… " +
        run.done.toLocaleString("en") + " of " + run.total.toLocaleString("en") + " conversations (" + run.since + ")";
      if (bar) bar.value = run.percent;
      if (run.status === "pending" && run.waited_seconds > 30) {
        box.textContent = "Replay #" + run.id + " has waited " + run.since +
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
