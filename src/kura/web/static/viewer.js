// kura image viewer: slices by wheel and keys, window/level by preset, inputs or drag.
// Frames come as PNG from WADO-RS /rendered (same origin, session cookie); each shown frame
// is an access-checked, ledgered request. No inline scripts: the CSP allows only files.
(function () {
  "use strict";

  // The print view: a button that opens the browser's print dialog.
  var printNow = document.getElementById("print-now");
  if (printNow) {
    printNow.addEventListener("click", function () { window.print(); });
  }

  var root = document.getElementById("viewer");
  if (!root) {
    return;
  }
  var cfg = JSON.parse(root.getAttribute("data-viewer"));
  var img = document.getElementById("viewer-image");
  var viewport = document.getElementById("viewport");
  var indexOut = document.getElementById("slice-index");
  var wlOut = document.getElementById("wl-display");
  var slider = document.getElementById("slice-slider");
  var wcIn = document.getElementById("wc");
  var wwIn = document.getElementById("ww");
  var printLink = document.getElementById("print-key");
  var errorBox = document.getElementById("viewer-error");
  var defaultLabel = wlOut.textContent;

  var state = { series: 0, slice: 0, center: null, width: null };
  var cache = new Map();  // frame URL -> Promise of an object URL
  var MAX_CACHE = 300;
  var token = 0;

  function series() { return cfg.series[state.series] || { sops: [] }; }

  // The window a series opens with: what a radiologist would choose first.
  function initialWindow(s) {
    if (s.modality === "CT" && s.body_part === "HEAD") { return preset("brain"); }
    if (s.modality === "CT") { return preset("mediastinum"); }
    return null;  // the instance's own window (VOI LUT)
  }

  // Where a drag starts when the image shows its own window.
  function guessWindow(s) {
    if (s.modality === "CT") { return { center: 40, width: 400 }; }
    if (s.modality === "MR") { return { center: 500, width: 1000 }; }
    return { center: 2048, width: 4096 };
  }

  function preset(name) {
    for (var i = 0; i < cfg.presets.length; i++) {
      if (cfg.presets[i].name === name) { return cfg.presets[i]; }
    }
    return null;
  }

  function frameUrl(i) {
    var s = series();
    var frame = s.frames ? s.frames[i] : 0;  // 0: a single-frame instance
    var url = "/dicom-web/studies/" + encodeURIComponent(cfg.study) + "/series/" + encodeURIComponent(s.uid) +
      "/instances/" + encodeURIComponent(s.sops[i]) + (frame ? "/frames/" + frame : "") + "/rendered";
    if (state.center !== null && state.width !== null) {
      url += "?window=" + Math.round(state.center) + "," + Math.round(state.width);
    }
    return url;
  }

  function load(url) {
    if (cache.has(url)) { return cache.get(url); }
    var p = fetch(url, { credentials: "same-origin", headers: { "Accept": "image/png" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
          throw new Error("signed out");
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        if (window.kuraActivity) { window.kuraActivity(); }
        return response.blob();
      })
      .then(function (blob) { return URL.createObjectURL(blob); });
    p.catch(function () { cache.delete(url); });
    cache.set(url, p);
    if (cache.size > MAX_CACHE) {
      var oldest = cache.keys().next().value;
      var gone = cache.get(oldest);
      cache.delete(oldest);
      gone.then(function (u) { if (img.src !== u) { URL.revokeObjectURL(u); } }).catch(function () {});
    }
    return p;
  }

  function updateLabels() {
    var n = series().sops.length;
    indexOut.textContent = (n ? state.slice + 1 : 0) + " / " + n;
    slider.max = String(Math.max(1, n));
    slider.value = String(state.slice + 1);
    if (state.center !== null) {
      wlOut.textContent = "W " + Math.round(state.width) + " / L " + Math.round(state.center);
      wcIn.value = String(Math.round(state.center));
      wwIn.value = String(Math.round(state.width));
    } else {
      wlOut.textContent = defaultLabel;
      wcIn.value = "";
      wwIn.value = "";
    }
    var buttons = root.querySelectorAll(".preset");
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i];
      var on = b.getAttribute("data-preset") === "default" ? state.center === null :
        Number(b.getAttribute("data-center")) === state.center && Number(b.getAttribute("data-width")) === state.width;
      b.setAttribute("aria-pressed", on ? "true" : "false");
    }
    if (printLink && n) {
      var q = "sop=" + encodeURIComponent(series().sops[state.slice]);
      var f = series().frames ? series().frames[state.slice] : 0;
      if (f) { q += "&frame=" + f; }
      if (state.center !== null) { q += "&window=" + Math.round(state.center) + "," + Math.round(state.width); }
      printLink.href = "/images/studies/" + encodeURIComponent(cfg.study) + "/print?" + q;
    }
  }

  function show(prefetch) {
    var n = series().sops.length;
    updateLabels();
    if (!n) { return; }
    var url = frameUrl(state.slice);
    var mine = ++token;
    root.classList.add("loading");
    load(url).then(function (objectUrl) {
      if (mine !== token) { return; }
      img.src = objectUrl;
      img.setAttribute("data-frame-url", url);
      img.setAttribute("data-slice", String(state.slice + 1));
      errorBox.hidden = true;
      root.classList.remove("loading");
    }).catch(function () {
      if (mine !== token) { return; }
      errorBox.hidden = false;
      root.classList.remove("loading");
    });
    if (prefetch !== false) {
      // The next slices in both directions, so scrolling does not wait.
      for (var d = 1; d <= 3; d++) {
        if (state.slice + d < n) { load(frameUrl(state.slice + d)).catch(function () {}); }
        if (state.slice - d >= 0) { load(frameUrl(state.slice - d)).catch(function () {}); }
      }
    }
  }

  function go(delta) {
    var n = series().sops.length;
    var next = Math.max(0, Math.min(n - 1, state.slice + delta));
    if (next !== state.slice) {
      state.slice = next;
      show();
    }
  }

  function setWindow(w) {
    if (w) {
      state.center = Number(w.center);
      state.width = Math.max(1, Number(w.width));
    } else {
      state.center = state.width = null;
    }
    show();
  }

  function pickSeries(i) {
    state.series = i;
    var s = series();
    state.slice = Math.floor(s.sops.length / 2);
    var w = initialWindow(s);
    state.center = w ? w.center : null;
    state.width = w ? w.width : null;
    // The presets are in Hounsfield units: they mean something for CT only.
    root.querySelectorAll(".preset[data-center]").forEach(function (b) {
      b.disabled = s.modality !== "CT";
    });
    var picks = document.querySelectorAll(".series-pick");
    for (var k = 0; k < picks.length; k++) {
      picks[k].setAttribute("aria-pressed", String(k) === String(i) ? "true" : "false");
    }
    show();
  }

  // Mouse wheel: one slice per notch.
  viewport.addEventListener("wheel", function (event) {
    event.preventDefault();
    if (event.deltaY !== 0) { go(event.deltaY > 0 ? 1 : -1); }
  }, { passive: false });

  // Keys, unless the user is typing in a field.
  document.addEventListener("keydown", function (event) {
    var t = event.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    var step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 5, PageUp: -5 }[event.key];
    if (event.key === "Home") { step = -100000; }
    if (event.key === "End") { step = 100000; }
    if (step) {
      event.preventDefault();
      go(step);
    }
  });

  slider.addEventListener("input", function () {
    state.slice = Number(slider.value) - 1;
    show();
  });

  // Drag: left-right changes the width, up-down the level, as on a reading workstation.
  var drag = null;
  var pending = null;
  viewport.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) { return; }
    var start = state.center !== null ? { center: state.center, width: state.width } : guessWindow(series());
    drag = { x: event.clientX, y: event.clientY, center: start.center, width: start.width,
             k: Math.max(1, start.width / 256) };
    viewport.setPointerCapture(event.pointerId);
    viewport.focus();
  });
  viewport.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    state.width = Math.max(1, drag.width + (event.clientX - drag.x) * drag.k);
    state.center = drag.center + (event.clientY - drag.y) * drag.k;
    updateLabels();
    if (!pending) {
      pending = window.setTimeout(function () { pending = null; show(false); }, 150);
    }
  });
  function endDrag() {
    if (!drag) { return; }
    drag = null;
    if (pending) { window.clearTimeout(pending); pending = null; }
    show();
  }
  viewport.addEventListener("pointerup", endDrag);
  viewport.addEventListener("pointercancel", endDrag);

  root.querySelectorAll(".preset").forEach(function (b) {
    b.addEventListener("click", function () {
      var name = b.getAttribute("data-preset");
      setWindow(name === "default" ? null : preset(name));
    });
  });

  document.getElementById("wl-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var c = wcIn.value.trim();
    var w = wwIn.value.trim();
    if (c === "" || w === "" || isNaN(Number(c)) || isNaN(Number(w))) { return; }
    setWindow({ center: Number(c), width: Number(w) });
  });

  document.querySelectorAll(".series-pick").forEach(function (b) {
    b.addEventListener("click", function () { pickSeries(Number(b.getAttribute("data-series-index"))); });
  });

  pickSeries(0);
})();
