(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var flow = document.getElementById("flow");
  var svg = document.getElementById("links");
  var links = JSON.parse(document.getElementById("pdr-links").textContent);
  function anchor(el, right) {
    var f = flow.getBoundingClientRect(), r = el.getBoundingClientRect();
    var head = el.querySelector("header");
    var y = head ? head.getBoundingClientRect().bottom - f.top : r.top - f.top + r.height / 2;
    return {x: (right ? r.right : r.left) - f.left + flow.scrollLeft, y: y + flow.scrollTop};
  }
  function draw() {
    svg.setAttribute("width", flow.scrollWidth);
    svg.setAttribute("height", flow.scrollHeight);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var drawn = 0;
    links.forEach(function (link) {
      var a = document.getElementById(link[0]), b = document.getElementById(link[1]);
      if (!a || !b) { return; }
      var p = anchor(a, true), q = anchor(b, false), dx = Math.max(24, (q.x - p.x) / 2);
      var path = document.createElementNS(NS, "path");
      path.setAttribute("d", "M" + p.x + "," + p.y + " C" + (p.x + dx) + "," + p.y + " " +
        (q.x - dx) + "," + q.y + " " + q.x + "," + q.y);
      path.setAttribute("class", "link " + link[2]);
      path.setAttribute("data-from", link[0]);
      path.setAttribute("data-to", link[1]);
      svg.appendChild(path);
      drawn += 1;
    });
    document.body.setAttribute("data-links-drawn", String(drawn));
  }
  function hot(id, on) {
    svg.querySelectorAll("path").forEach(function (p) {
      if (p.getAttribute("data-from") === id || p.getAttribute("data-to") === id) {
        p.classList.toggle("hot", on);
      }
    });
  }
  document.querySelectorAll(".card[id]").forEach(function (card) {
    card.addEventListener("mouseenter", function () { hot(card.id, true); });
    card.addEventListener("mouseleave", function () { hot(card.id, false); });
  });
  flow.addEventListener("toggle", draw, true);
  window.addEventListener("resize", draw);
  window.addEventListener("load", draw);
  if (window.ResizeObserver) { new ResizeObserver(draw).observe(flow); }
  draw();
})();
