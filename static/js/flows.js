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

// A flows run in a worker (the Flows page's replay, a suggestion, a what-if's would-deny):
// show its progress, then its result: a reload draws it, or, for a section of a page a
// reload would post again (data-replace), the section the run's state gives, drawn.
document.querySelectorAll("[data-flow-run-url]").forEach(function (box) {
  const FINISHED = ["complete", "failed"];
  const section = box.closest(".card") || box.parentElement;
  const bar = section.querySelector("progress");
  async function poll() {
    try {
      const response = await fetch(box.dataset.flowRunUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const run = await response.json();
      if (FINISHED.includes(run.status)) {
        const target = box.dataset.replace && document.querySelector(box.dataset.replace);
        if (target && run.html) {
          const holder = document.createElement("div");
          holder.innerHTML = run.html;
          const drawn = holder.querySelector(box.dataset.replace) || holder.firstElementChild;
          // "Replay again" comes back to this page as it is.
          drawn.querySelectorAll("input[name=next]").forEach(function (input) {
            input.value = window.location.pathname + window.location.search;
          });
          target.replaceWith(drawn);
        } else {
          window.location.reload();
        }
        return;
      }
      box.classList.remove("error");
      box.textContent = run.label + " #" + run.id + " " + run.status + ": " + run.progress + "… " +
        run.done.toLocaleString("en") + " of " + run.total.toLocaleString("en") + " conversations (" + run.since + ")";
      if (bar) bar.value = run.percent;
      if (run.status === "pending" && run.waited_seconds > 30) {
        box.textContent = run.label + " #" + run.id + " has waited " + run.since +
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
