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
