// The manual's 印刷 button (no inline script: the CSP forbids it).
document.addEventListener("DOMContentLoaded", function () {
  var b = document.getElementById("print-now");
  if (b) { b.addEventListener("click", function () { window.print(); }); }
});
