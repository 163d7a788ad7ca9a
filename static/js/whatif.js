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
