// kura 医事 screens: patient search as you type, the print button, the break-glass dialog.
// No inline scripts: the CSP allows only files from /static.
(function () {
  "use strict";

  // Search as you type: the results list comes from /patients/search as an HTML fragment.
  var input = document.querySelector("input[data-search-url]");
  var results = document.getElementById("results");
  if (input && results) {
    var timer = null;
    var pending = null;
    var last = input.value;
    var run = function () {
      var q = input.value.trim();
      if (q === last) { return; }
      last = q;
      if (pending) { pending.abort(); }
      pending = new AbortController();
      var url = input.getAttribute("data-search-url") + "?q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" }, signal: pending.signal })
        .then(function (response) {
          if (response.redirected) {  // the session ended: go to the login page
            window.location.assign(response.url);
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          results.innerHTML = html;
          results.setAttribute("data-query", q);
          window.history.replaceState(null, "", q ? "/patients?q=" + encodeURIComponent(q) : "/patients");
        })
        .catch(function () { /* aborted by a newer keystroke */ });
    };
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, 250);
    });
    // Enter opens the first match when the list already answers what was typed; ↓ moves
    // into the list (Tab and Enter go on from there).
    input.addEventListener("keydown", function (event) {
      var first = results.querySelector("ul.restricted-matches a, table.patients tbody a");
      var fresh = results.getAttribute("data-query") === input.value.trim();
      if (event.key === "Enter" && first && fresh && !event.isComposing) {
        event.preventDefault();
        window.location.assign(first.href);
      } else if (event.key === "ArrowDown" && first) {
        event.preventDefault();
        first.focus();
      }
    });
  }

  var printNow = document.getElementById("print-now");
  if (printNow) {
    printNow.addEventListener("click", function () { window.print(); });
  }

  // The break-glass dialog: modal when the browser can, focus on the reason.
  var dialog = document.getElementById("break-glass");
  if (dialog) {
    if (typeof dialog.showModal === "function" && dialog.open) {
      dialog.close();
      dialog.showModal();
    }
    var reason = dialog.querySelector("textarea");
    if (reason) { reason.focus(); }
  }
})();
