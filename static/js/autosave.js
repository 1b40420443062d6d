// Saves a draft form a few seconds after the official stops typing. Without JavaScript the
// "Save draft" button does the same; the server refuses a save based on an outdated copy.
(function () {
  "use strict";
  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    var status = document.getElementById(form.dataset.autosave);
    var version = form.querySelector("[name=base_version]");
    var timer = null;
    var saving = false;
    var again = false;
    var submitAfter = false;

    function show(text) {
      if (status) status.textContent = text;
    }

    function save() {
      if (saving) { again = true; return; }
      saving = true;
      var data = new FormData(form);
      form.querySelectorAll("input[type=file]").forEach(function (input) { data.delete(input.name); });
      fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
      }).then(function (response) {
        return response.json().then(function (body) {
          if (response.ok && version) version.value = body.version;
          show(body.message);
        });
      }).catch(function () {
        show(form.dataset.offlineMessage || "Not saved: no connection. Your text is still here.");
      }).finally(function () {
        saving = false;
        if (submitAfter) { submitAfter = false; form.submit(); return; }
        if (again) { again = false; save(); }
      });
    }

    // A click on "Save draft" while an automatic save is on its way waits for it, so that
    // the two do not race and the second is not refused as based on an outdated copy.
    form.addEventListener("submit", function (event) {
      clearTimeout(timer);
      if (saving) { event.preventDefault(); submitAfter = true; }
    });

    form.addEventListener("input", function () {
      clearTimeout(timer);
      show(form.dataset.pendingMessage || "Unsaved changes…");
      timer = setTimeout(save, 2000);
    });
  });
})();
