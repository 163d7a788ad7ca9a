// The cluster form: show only the fields of the chosen source. The map of source to fields
// comes from the server (data-source-fields on the source select), so it lives in one place.
(function () {
  function apply(select) {
    const map = JSON.parse(select.dataset.sourceFields);
    const shown = new Set(map[select.value] || []);
    Object.values(map).flat().forEach(function (name) {
      document.querySelectorAll(".form-row.field-" + name).forEach(function (row) {
        row.hidden = !shown.has(name);
      });
    });
  }
  function start() {
    const select = document.querySelector("select[data-source-fields]");
    if (!select) return;
    select.addEventListener("change", function () { apply(select); });
    apply(select);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
