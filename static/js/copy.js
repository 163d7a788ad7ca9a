// "Copy YAML" (and "Copy link") buttons: copy the text of the element named by data-copy-target.
document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
  const label = button.textContent;
  button.addEventListener("click", async function () {
    const text = document.getElementById(button.dataset.copyTarget).innerText;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copyTarget));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(function () { button.textContent = label; }, 2000);
  });
});
