// Berth's own page behaviour. Pages carry no inline scripts or handlers (the Content-Security-Policy
// forbids them); elements say what they want with data- attributes, read here. Text from users
// only ever travels in those attributes, never inside JavaScript source.
(function () {
  "use strict";

  // <form data-confirm="Delete x?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    // <button data-copy="element-id">: copy that input's value.
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.value).then(function () { copy.textContent = "Copied"; });
      }
    }
    // <button data-remove-closest=".row">: remove the enclosing element (a form row).
    var remove = event.target.closest("[data-remove-closest]");
    if (remove) {
      var row = remove.closest(remove.getAttribute("data-remove-closest"));
      if (row) { row.remove(); }
    }
    // <button data-fill="input-id" data-value="…">: put the value in that input.
    var fill = event.target.closest("[data-fill]");
    if (fill) {
      var input = document.getElementById(fill.getAttribute("data-fill"));
      if (input) { input.value = fill.getAttribute("data-value"); }
    }
  });

  // hx-get with data-fresh-index: each request gets a new row index (rows must not share ids).
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.hasAttribute("data-fresh-index")) {
      event.detail.parameters.index = Date.now() % 1000000;
    }
  });
})();
