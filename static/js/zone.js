// Sign-up: where the visitor has not chosen a zone, take the browser's, if it is one of the
// list's. Without JavaScript the zone follows the chosen country (SignupForm.signup).
(function () {
  "use strict";
  var select = document.querySelector("select[data-browser-zone]");
  if (!select || select.value || !window.Intl) {
    return;
  }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      select.value = zone;
      return;
    }
  }
})();
