// The print view's "Print" button: hidden in the page (without JavaScript it could do
// nothing, and the browser's own Print works), shown and wired here.
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
