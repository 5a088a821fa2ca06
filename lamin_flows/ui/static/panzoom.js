// Zoom and pan of the lineage SVG (no library): the wheel zooms around the pointer, a drag pans,
// "fit" shows the whole graph. A drag never counts as a click on a node.
(function () {
  "use strict";
  var svg = document.getElementById("lineage");
  if (!svg) return;
  var full = { x: 0, y: 0, w: +svg.dataset.width, h: +svg.dataset.height };
  var view = { x: 0, y: 0, w: full.w, h: full.h };
  var MIN_W = 80;

  function apply() {
    svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
  }
  function toSvg(clientX, clientY) {
    var pt = svg.createSVGPoint();
    pt.x = clientX; pt.y = clientY;
    return pt.matrixTransform(svg.getScreenCTM().inverse());
  }
  function zoom(factor, cx, cy) {
    var w = Math.max(MIN_W, Math.min(view.w * factor, full.w * 20));
    var f = w / view.w;
    view.x = cx - (cx - view.x) * f;
    view.y = cy - (cy - view.y) * f;
    view.w *= f; view.h *= f;
    apply();
  }
  function fit() {
    var pad = 10;
    view = { x: -pad, y: -pad, w: full.w + 2 * pad, h: full.h + 2 * pad };
    apply();
    var s = scale(), MAX_FIT = 1.4; // a small graph is not blown up past a comfortable size
    if (s > MAX_FIT) zoom(s / MAX_FIT, full.w / 2, full.h / 2);
  }
  function scale() {
    var r = svg.getBoundingClientRect();
    return Math.min(r.width / view.w, r.height / view.h);
  }
  function focusRoot(readable) {
    var root = svg.querySelector(".node.root rect");
    if (!root) return;
    var r = svg.getBoundingClientRect();
    var w = r.width / readable, h = r.height / readable;
    var bx = +root.getAttribute("x"), by = +root.getAttribute("y");
    var bw = +root.getAttribute("width"), bh = +root.getAttribute("height");
    view = { x: bx + bw - w * 0.8, y: by + bh / 2 - h / 2, w: w, h: h };
    apply();
  }

  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = toSvg(e.clientX, e.clientY);
    zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
  }, { passive: false });

  var drag = null, moved = false;
  svg.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    drag = { start: toSvg(e.clientX, e.clientY), x: e.clientX, y: e.clientY };
    moved = false;
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    if (!moved && Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) < 4) return;
    if (!moved) svg.classList.add("dragging");
    moved = true;
    var p = toSvg(e.clientX, e.clientY);
    view.x -= p.x - drag.start.x;
    view.y -= p.y - drag.start.y;
    apply();
  });
  window.addEventListener("pointerup", function () {
    drag = null;
    svg.classList.remove("dragging");
  });
  svg.addEventListener("click", function (e) {
    if (moved) { e.preventDefault(); e.stopPropagation(); moved = false; }
  }, true);

  function centreZoom(factor) {
    zoom(factor, view.x + view.w / 2, view.y + view.h / 2);
  }
  document.getElementById("zoom-in").addEventListener("click", function () { centreZoom(1 / 1.3); });
  document.getElementById("zoom-out").addEventListener("click", function () { centreZoom(1.3); });
  document.getElementById("fit").addEventListener("click", fit);
  window.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "+" || e.key === "=") centreZoom(1 / 1.3);
    else if (e.key === "-") centreZoom(1.3);
    else if (e.key === "0") fit();
  });

  fit();
  // A graph too big to read when fitted opens on its root (the File asked about), at a readable size.
  if (scale() < 0.45) focusRoot(0.9);
  svg.dataset.ready = "1";
})();
