// oakling admin: "Add another" rows of inlines, in place.
// Without JavaScript the button posts the form back and the page returns with
// one more blank row (nothing saved); with it, the blank row is copied from the
// group's <template> (numbered __prefix__, Django's convention) and
// <prefix>-TOTAL_FORMS goes up by one.
"use strict";
(function () {
  function addRow(event) {
    var button = event.currentTarget;
    var prefix = button.value;
    var template = document.getElementById(prefix + "-empty");
    var total = document.getElementById(prefix + "-TOTAL_FORMS");
    if (!template || !total) { return; }  // the server adds the row instead
    event.preventDefault();
    var index = parseInt(total.value, 10);
    var html = template.innerHTML
      .split("__prefix__").join(String(index))
      .split("__number__").join(String(index + 1));
    var holder = document.createElement(template.content.firstElementChild.tagName === "TR" ? "tbody" : "div");
    holder.innerHTML = html;
    var row = holder.firstElementChild;
    var group = document.getElementById(prefix + "-group");
    var body = group.querySelector("tbody") || group.querySelector(".inline-rows");
    body.appendChild(row);
    total.value = String(index + 1);
    if (window.oaklingAdmin && window.oaklingAdmin.attachAutocomplete) {
      row.querySelectorAll("input[data-autocomplete]").forEach(window.oaklingAdmin.attachAutocomplete);
    }
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) { first.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button.add-row").forEach(function (button) {
      button.addEventListener("click", addRow);
    });
  });
})();
