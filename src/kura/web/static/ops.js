// Live progress of the operations screen's running job: poll its JSON, reload when done.
(function () {
  const card = document.getElementById("job");
  if (!card || card.dataset.finished === "yes") return;
  const bar = card.querySelector(".job-progress");
  const count = card.querySelector(".job-count");
  const stage = card.querySelector(".job-stage");
  async function tick() {
    try {
      const r = await fetch("/ops/jobs/" + encodeURIComponent(card.dataset.job), {credentials: "same-origin"});
      if (!r.ok) return;
      const j = await r.json();
      stage.textContent = j.stage;
      if (j.total) { bar.max = j.total; bar.value = j.done; } else { bar.removeAttribute("value"); }
      count.textContent = j.total ? j.done + " / " + j.total : String(j.done);
      if (j.finished) { location.replace("/ops?job=" + encodeURIComponent(j.id)); return; }
    } catch (e) { /* the server may be busy; try again */ }
    setTimeout(tick, 1000);
  }
  setTimeout(tick, 500);
})();
