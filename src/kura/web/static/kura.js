// kura UI: the idle-timeout notice (R20) and confirmation of consequential forms.
// No inline scripts: the CSP allows only this file.
(function () {
  "use strict";

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
