// oakling admin: suggestions for foreign-key id inputs (autocomplete_fields).
// Without JavaScript the input takes the related row's id; with it, typing a
// name offers the matching rows (a <datalist> whose values are their ids).
"use strict";
(function () {
  function attach(input) {
    var list = document.createElement("datalist");
    list.id = input.id + "-suggestions";
    input.setAttribute("list", list.id);
    input.insertAdjacentElement("afterend", list);
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      var term = input.value.trim();
      if (/^\d+$/.test(term) || term === asked) { return; }
      clearTimeout(timer);
      timer = setTimeout(function () {
        asked = term;
        fetch(input.dataset.autocomplete + "&term=" + encodeURIComponent(term), {
          credentials: "same-origin", headers: { "Accept": "application/json" }
        }).then(function (response) {
          return response.ok ? response.json() : { results: [] };
        }).then(function (data) {
          list.replaceChildren();
          data.results.forEach(function (row) {
            var option = document.createElement("option");
            option.value = row.id;
            option.label = row.text;  // text, never HTML
            list.appendChild(option);
          });
        }).catch(function () { list.replaceChildren(); });
      }, 200);
    });
  }
  window.oaklingAdmin = window.oaklingAdmin || {};
  window.oaklingAdmin.attachAutocomplete = attach;  // for rows inlines.js adds
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-autocomplete]").forEach(attach);
  });
})();
