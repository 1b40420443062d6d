// Saves a draft form a few seconds after the official stops typing. Without JavaScript the
// "Save draft" button does the same. The server merges a save with colleagues' changes and
// refuses one that would overwrite them; then automatic saving pauses until "Save draft".
(function () {
  "use strict";
  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    var status = document.getElementById(form.dataset.autosave);
    var version = form.querySelector("[name=base_version]");
    var timer = null;
    var saving = false;
    var again = false;
    var submitAfter = false;
    var paused = false;
    var dirty = false;

    function show(text) {
      if (status) status.textContent = text;
    }

    function save() {
      if (paused) return;
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
          if (response.ok) {
            if (version) version.value = body.version;
            dirty = again;
          } else if (body.conflict || body.signed_out) {
            // A conflict, or a lapsed session: "Save draft" then shows what to do, and a
            // lapsed session keeps the text until the official has signed in again.
            paused = true;
          }
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
    // the two do not race.
    form.addEventListener("submit", function (event) {
      clearTimeout(timer);
      dirty = false;
      if (saving) { event.preventDefault(); submitAfter = true; }
    });

    form.addEventListener("input", function () {
      dirty = true;
      clearTimeout(timer);
      if (paused) return;
      show(form.dataset.pendingMessage || "Unsaved changes…");
      timer = setTimeout(save, 2000);
    });

    // Leaving the page (another link, an upload form) with unsaved text asks first.
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  });
})();
