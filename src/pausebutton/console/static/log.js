/* The log page: the checkpoint (signatures checked here), entries, search, and an
   inclusion proof verified in the browser for any entry. */
"use strict";
(function () {
  const status = document.getElementById("log-status");
  let keys = null;
  function say(text, ok) { status.textContent = text; status.className = "status " + (ok === false ? "error" : ""); }
  async function checkpoint() {
    const box = document.getElementById("checkpoint");
    try {
      const resp = await fetch("/v1/log/checkpoint");
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const text = await resp.text();
      const note = PBLog.parseNote(text);
      const s = await PBLog.verifyNote(note, keys);
      const logOk = s.log >= keys.log_threshold && note.origin === keys.origin;
      const witOk = s.witnesses >= keys.witness_threshold;
      box.innerHTML = "<p>Checkpoint of <strong>" + note.size + "</strong> entries, root <code class=\"wrap\">" +
        PBLog.hex(note.root) + "</code></p><ul>" +
        '<li class="' + (logOk ? "ok" : "bad") + '" id="cp-log">' + (logOk ? "✓ signed by the log key of " : "✗ not signed by the log key of ") + PB.esc(keys.origin) + "</li>" +
        '<li class="' + (witOk ? "ok" : "warn") + '" id="cp-witnesses">' + s.witnesses + " of " + keys.witness_keys.length +
        " witnesses cosigned (" + keys.witness_threshold + " needed for licences and resumes)</li></ul>" +
        "<details><summary>The note</summary><pre>" + PB.esc(text) + "</pre></details>";
    } catch (e) {
      box.innerHTML = '<p class="status error">Could not check the checkpoint: ' + PB.esc(e.message) + "</p>";
    }
  }
  async function load(q) {
    say("Loading…");
    let data;
    try {
      data = await PB.getJSON("/console/api/log" + (q ? "?q=" + encodeURIComponent(q) : ""));
    } catch (e) { say(e.message, false); return; }
    keys = data;
    const body = document.querySelector("#entries tbody");
    body.innerHTML = data.entries.map(function (e) {
      return '<tr data-index="' + e.index + '"><td>' + e.index + "</td><td>" + PB.esc(e.kind) + '</td><td><code>' + e.leaf_hash.slice(0, 16) +
        '…</code></td><td><button type="button" class="verify" data-index="' + e.index + '">Verify inclusion</button> <span class="result" role="status"></span></td></tr>';
    }).join("") || '<tr><td colspan="4" class="empty">' + (q ? "Nothing in the log names " + PB.esc(q) + "." : "The log is empty.") + "</td></tr>";
    say(q ? data.entries.length + (data.entries.length === 1 ? " entry names " : " entries name ") + q : "The newest " + data.entries.length + " of " + data.size + " entries.");
    document.body.dataset.logReady = "1";
  }
  document.getElementById("entries").addEventListener("click", async function (ev) {
    const b = ev.target.closest("button.verify");
    if (!b) return;
    const out = b.parentElement.querySelector(".result");
    out.textContent = "checking…"; out.className = "result";
    try {
      const r = await PBLog.verifyEntry(Number(b.dataset.index), keys);
      out.textContent = r.ok
        ? "✓ included in the tree of " + r.size + " entries; checkpoint signed by the log"
        : "✗ NOT verified: " + (!r.included ? "the proof does not lead to the checkpoint's root" : !r.origin ? "wrong log origin" : "checkpoint not signed by the log key");
      out.className = "result " + (r.ok ? "ok" : "bad");
    } catch (e) { out.textContent = "✗ could not verify: " + e.message; out.className = "result bad"; }
  });
  document.getElementById("search").addEventListener("submit", function (ev) {
    ev.preventDefault(); load(document.getElementById("q").value.trim());
  });
  document.getElementById("newest").addEventListener("click", function () { document.getElementById("q").value = ""; load(""); });
  load("").then(checkpoint);
})();
