// Confirmations in a dialog. Without JavaScript, Submit, Withdraw and Remove (a file) are
// links to a confirmation page, and a review's Submit posts for a confirmation region; only the
// button there (name "confirm") does the work. With JavaScript, the same server-rendered
// confirmation opens in a modal <dialog> over the page instead:
// - a link marked data-confirm: its page is fetched (GET);
// - a submit button marked data-confirm: its form is posted without "confirm", which stores
//   nothing and answers with the confirmation.
// The element of the answer marked data-confirmation goes into the dialog, whose forms post as
// they would on the page. Its cancel control (data-confirmation-cancel) closes the dialog
// instead. When anything goes wrong (no answer, no confirmation in it, no <dialog> support),
// the browser does what it would without JavaScript.
(function () {
  "use strict";
  if (typeof HTMLDialogElement !== "function" || !window.fetch || !window.DOMParser) {
    return;
  }

  // An id of the confirmation that the page already has (the review's running total, say) is
  // prefixed, with the labels and descriptions that point at it, so that each stays unique.
  function renameTakenIds(dialog) {
    dialog.querySelectorAll("[id]").forEach(function (element) {
      var id = element.id;
      if (!document.getElementById(id)) {
        return;
      }
      element.id = "confirmation-" + id;
      dialog.querySelectorAll("[for], [aria-labelledby], [aria-describedby]").forEach(function (other) {
        ["for", "aria-labelledby", "aria-describedby"].forEach(function (name) {
          var value = other.getAttribute(name);
          if (value && value.split(" ").indexOf(id) !== -1) {
            other.setAttribute(name, value.split(" ").map(function (part) {
              return part === id ? element.id : part;
            }).join(" "));
          }
        });
      });
    });
  }

  function show(html, opener) {
    var found = new DOMParser().parseFromString(html, "text/html").querySelector("[data-confirmation]");
    if (!found) {
      return false;
    }
    var dialog = document.createElement("dialog");
    dialog.className = "confirmation-dialog";
    dialog.appendChild(document.importNode(found, true));
    renameTakenIds(dialog);
    var heading = dialog.querySelector("h1, h2, h3");
    if (heading) {
      heading.id = heading.id || "confirmation-dialog-heading";
      dialog.setAttribute("aria-labelledby", heading.id);
    }
    dialog.querySelectorAll("[data-confirmation-cancel]").forEach(function (cancel) {
      cancel.addEventListener("click", function (event) {
        event.preventDefault();
        dialog.close();
      });
    });
    dialog.addEventListener("close", function () {
      dialog.remove();
      opener.focus();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    return true;
  }

  function open(request, opener, fallback) {
    opener.setAttribute("aria-busy", "true");
    fetch(request.url, request.options)
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then(function (html) {
        opener.removeAttribute("aria-busy");
        if (!show(html, opener)) {
          fallback();
        }
      })
      .catch(function () {
        opener.removeAttribute("aria-busy");
        fallback();
      });
  }

  document.addEventListener("click", function (event) {
    var control = event.target.closest("[data-confirm]");
    if (!control || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    if (control.tagName === "A") {
      event.preventDefault();
      open({ url: control.href, options: { credentials: "same-origin" } }, control, function () {
        window.location.assign(control.href);
      });
    } else if (control.form) {
      var form = control.form;
      if (!form.reportValidity()) {
        return;
      }
      event.preventDefault();
      var body = new FormData(form);
      body.append(control.name, control.value);
      open(
        { url: form.action, options: { method: "POST", body: body, credentials: "same-origin" } },
        control,
        function () {
          control.removeAttribute("data-confirm");
          form.requestSubmit(control);
        }
      );
    }
  });
})();
