// The draft form's sections are <details>: without JavaScript they open and close by
// themselves, and a link of the checklist lands on an open section (the server opens those
// still to complete). With it, a link to a closed section (or to a field in one) opens it
// first, in browsers that do not do so on their own.
(function () {
  "use strict";
  function openTarget() {
    if (!location.hash) return;
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    var section = target && target.closest("details");
    if (section && !section.open) {
      section.open = true;
      target.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
