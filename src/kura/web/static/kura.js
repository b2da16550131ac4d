// kura UI: the idle-timeout notice (R20) and confirmation of consequential forms.
// No inline scripts: the CSP allows only this file.
(function () {
  "use strict";

  // Keyboard (clerks work from it all day): "/" goes to the patient search from anywhere
  // but a text field; Esc leaves a form or dialog by its Cancel link (data-cancel). Enter
  // saves, as any HTML form does.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
    if (event.key === "/" && !typing) {
      var search = document.querySelector("[data-search-url]");
      event.preventDefault();
      if (search) {
        search.focus();
        search.select();
      } else if (document.querySelector("nav.main a[href='/patients']")) {
        window.location.href = "/patients";
      }
    } else if (event.key === "Enter" && event.target.tagName === "SELECT" && event.target.form
               && event.target.form.classList.contains("entry")) {
      // Enter saves from a choice too, as from a text field (not only from the button).
      event.preventDefault();
      event.target.form.requestSubmit();
    } else if (event.key === "Escape") {
      var cancel = document.querySelector("a[data-cancel]");
      if (cancel) {
        event.preventDefault();
        window.location.href = cancel.href;
      }
    }
  });

  // Ask before forms that carry data-confirm="question".
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // The server ends a session after settings.session_idle_minutes without a request.
  // Count down from each page load; warn before the end; offer to stay signed in.
  var idle = parseInt(document.body.getAttribute("data-idle-seconds") || "0", 10);
  var warn = parseInt(document.body.getAttribute("data-warn-seconds") || "120", 10);
  var notice = document.getElementById("idle-notice");
  if (!idle || !notice) {
    return;
  }
  var countdown = notice.querySelector(".countdown");
  // A little after the server's own limit, so that the session has surely ended there.
  var margin = 3000;
  var deadline = Date.now() + idle * 1000 + margin;

  // Pages that talk to the server without reloading (the image viewer) report each answered
  // request here: the server counted it as activity, so the countdown starts again.
  window.kuraActivity = function () {
    deadline = Date.now() + idle * 1000 + margin;
  };

  function signedOut() {
    var here = window.location.pathname + window.location.search;
    window.location.assign("/login?timeout=1&next=" + encodeURIComponent(here));
  }

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (left <= 0) {
      signedOut();
      return;
    }
    if (left <= warn) {
      countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      notice.hidden = false;
    } else {
      notice.hidden = true;
    }
    window.setTimeout(tick, 1000);
  }

  document.getElementById("idle-stay").addEventListener("click", function () {
    // Any authenticated request refreshes the session.
    fetch("/api/session", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          signedOut();
          return;
        }
        deadline = Date.now() + idle * 1000 + margin;
        notice.hidden = true;
      })
      .catch(signedOut);
  });

  tick();
})();
