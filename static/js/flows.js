// Flow upload: sent by XMLHttpRequest so the page shows how much of the file is uploaded;
// then the server's answer says where to go (the import's progress, or the page with
// its message). The server checks the size too; this says it before the upload starts.
function megabytes(n) {
  return (n / 1048576).toLocaleString("en", { maximumFractionDigits: 1 }) + " MiB";
}

document.querySelectorAll("form.flow-upload").forEach(function (form) {
  const input = form.querySelector("input[type=file]");
  const tooBig = document.getElementById("flow-too-big");
  const shown = document.getElementById("flow-upload-progress");
  const bar = shown.querySelector("progress");
  const text = shown.querySelector("p");
  const button = form.querySelector("button[type=submit]");
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
    if (!file || !window.FormData) return; // the browser posts the form itself
    event.preventDefault();
    // A second click must not import the file twice.
    button.disabled = true;
    button.textContent = button.dataset.busyText;
    shown.hidden = false;
    bar.value = 0;
    text.textContent = "Uploading " + file.name + ": 0 of " + megabytes(file.size) + "…";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      text.textContent = "Uploading " + file.name + ": " + megabytes(e.loaded) + " of " + megabytes(e.total) + "…";
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      text.textContent = "Uploaded " + file.name + "; counting its flows…";
    });
    function failed(why) {
      shown.classList.add("error");
      text.textContent = "The upload of " + file.name + " failed (" + why + "). Try again; if it fails again, import it on the server with manage.py import_flows.";
      button.disabled = false;
      button.textContent = "Import";
    }
    xhr.addEventListener("load", function () {
      let answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (err) {
        answer = null;
      }
      if (xhr.status === 200 && answer && answer.redirect) {
        window.location.assign(answer.redirect);
      } else {
        failed("HTTP " + xhr.status + (xhr.statusText ? " " + xhr.statusText : ""));
      }
    });
    xhr.addEventListener("error", function () { failed("the connection was lost"); });
    xhr.send(new FormData(form));
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
        run.done_text + " (" + run.since + ")";
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
