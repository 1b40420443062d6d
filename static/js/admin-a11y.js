// Accessibility fixes for Django's admin pages (loaded by templates/admin/base_site.html):
// - regions that scroll sideways on a phone (Django's inline groups, our .table-responsive)
//   take the keyboard's focus, so that they can be scrolled without a mouse;
// - the fields of a tabular inline, labelled in the table's header only, are named by that
//   header for screen readers.
(function () {
  "use strict";
  document.querySelectorAll(".inline-group, .table-responsive").forEach(function (el) {
    if (!el.hasAttribute("tabindex")) {
      el.tabIndex = 0;
    }
  });
  document.querySelectorAll(".inline-group .tabular table").forEach(function (table) {
    var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, index) {
        cell.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (field) {
          var labelled = field.labels && field.labels.length;
          if (!labelled && !field.hasAttribute("aria-label") && headers[index]) {
            field.setAttribute("aria-label", headers[index]);
          }
        });
      });
    });
  });
})();
