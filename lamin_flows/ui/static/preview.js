// The head of a CSV/TSV/parquet File, fetched from /files/<id>/preview as JSON, as a table.
(function () {
  "use strict";
  var box = document.getElementById("preview");
  if (!box) return;
  fetch(box.dataset.src).then(function (r) { return r.json(); }).then(function (head) {
    box.textContent = "";
    box.classList.remove("dim");
    if (head.error) { box.textContent = head.error; box.classList.add("error"); return; }
    var table = document.createElement("table");
    table.className = "list preview-table";
    var tr = table.createTHead().insertRow();
    head.columns.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; tr.appendChild(th); });
    var body = table.createTBody();
    head.rows.forEach(function (row) {
      var r = body.insertRow();
      row.forEach(function (v) { r.insertCell().textContent = v; });
    });
    box.appendChild(table);
    if (head.total_rows != null) {
      var note = document.createElement("p");
      note.className = "dim";
      note.textContent = head.rows.length + " of " + head.total_rows.toLocaleString() + " rows";
      box.appendChild(note);
    }
  }).catch(function (err) { box.textContent = "cannot load the preview: " + err; });
})();
