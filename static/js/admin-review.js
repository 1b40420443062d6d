// The review page's running weighted total, kept up to date as the reviewer picks scores.
// Without JavaScript the page shows the total computed on the server at each save
// (proposals/admin/reviews.py running_total); this recomputes it by the same formula,
// scoring.weighted_score: sum of weight x score over the scored criteria / sum of their
// weights, with each criterion's weight as the page gives it (its fieldset's data-weight).
// tests/browser/test_review_flow.py checks the two agree.
(function () {
  "use strict";
  var form = document.querySelector("form.review-scores");
  var total = document.getElementById("running-total");
  if (!form || !total) {
    return;
  }
  var output = total.querySelector(".running-total-value");
  var counts = total.querySelector(".running-total-scored");
  var fieldsets = form.querySelectorAll("fieldset[data-weight]");
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined, {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  });

  function recompute() {
    var weighted = 0;
    var weights = 0;
    var scored = 0;
    fieldsets.forEach(function (fieldset) {
      var checked = fieldset.querySelector("input[type=radio]:checked");
      if (checked) {
        var weight = parseFloat(fieldset.dataset.weight);
        weighted += weight * parseInt(checked.value, 10);
        weights += weight;
        scored += 1;
      }
    });
    output.textContent = weights > 0 ? format.format(weighted / weights) : "\u2014";
    if (counts) {
      counts.textContent = String(scored);
    }
  }

  form.addEventListener("change", function (event) {
    if (event.target.type === "radio") {
      recompute();
    }
  });
})();
