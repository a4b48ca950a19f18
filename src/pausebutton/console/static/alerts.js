/* The alerts page: filters, counts per method and the alerts with their evidence. */
"use strict";
(function () {
  const status = document.getElementById("alerts-status");
  async function load() {
    const form = new FormData(document.getElementById("filters"));
    const params = new URLSearchParams();
    for (const [k, v] of form.entries()) if (v) params.set(k, String(v).trim());
    status.textContent = "Loading…"; status.className = "status";
    let data;
    try { data = await PB.getJSON("/console/api/alerts?" + params.toString()); }
    catch (e) { status.textContent = "Could not load the alerts: " + e.message; status.className = "status error"; return; }
    document.getElementById("by-method").innerHTML = Object.entries(data.by_method).map(function (kv) {
      return "<li>" + PB.esc(kv[0]) + ": <strong>" + kv[1] + "</strong></li>";
    }).join("");
    const body = document.querySelector("#alerts tbody");
    body.innerHTML = data.alerts.map(function (a) {
      return '<tr data-alert="' + a.id + '"><td>' + PB.timeTag(a.created_at) + "</td><td>" + PB.esc(a.severity) + "</td><td>" + PB.esc(a.kind) +
        "</td><td>" + PB.esc(a.method) + "</td><td>" + (a.chip_id ? '<a href="/console/chips/' + a.chip_id + '"><code>' + a.chip_id.slice(0, 12) + "</code></a>" : "—") +
        "</td><td>" + PB.esc(a.owner_id || "—") + "</td><td>" + PB.esc(a.country || "—") +
        "</td><td><details><summary>evidence</summary><pre>" + PB.esc(JSON.stringify(a.detail, null, 1)) + "</pre></details></td></tr>";
    }).join("") || '<tr><td colspan="8" class="empty">' + (data.public ? "Sign in to see the alerts." : "No alerts match.") + "</td></tr>";
    const one = data.total === 1;
    status.textContent = data.total + (one ? " alert" : " alerts") + (params.toString() ? (one ? " matches" : " match") + " the filters" : "") +
      (data.alerts.length < data.total && !data.public ? " (the newest " + data.alerts.length + " shown)" : "") + ".";
    fused(data.fused, data.public);
    document.body.dataset.alertsReady = String(Date.now());
  }
  function fused(f, isPublic) {
    const st = document.getElementById("fused-status");
    const body = document.querySelector("#fused tbody");
    if (!f.run) {
      st.textContent = "The engine has not run yet.";
      body.innerHTML = '<tr><td colspan="7" class="empty">No detection run yet.</td></tr>';
      return;
    }
    st.innerHTML = f.total + (f.total === 1 ? " fused alert" : " fused alerts") + " in run " + f.run.id + " (" +
      PB.timeTag(f.run.at) + ": " + f.run.signals + " signals, " + f.run.own + " records of the authority's own evidence).";
    body.innerHTML = f.alerts.map(function (a) {
      return "<tr><td>" + PB.esc(a.kind) + " <strong>" + PB.esc(a.subject) + "</strong></td><td>" + PB.esc(a.owner || "—") +
        "</td><td>" + PB.esc(a.country || "—") + "</td><td>" + a.probability.toFixed(3) + "</td><td>" + PB.esc(a.severity) +
        "</td><td>" + PB.esc(a.methods.join(", ")) + "</td><td><details><summary>" + a.findings.length + " finding(s)</summary><ul>" +
        a.findings.map(function (x) {
          return "<li><strong>" + PB.esc(x.rule) + "</strong>: " + PB.esc(x.reason) + "<pre>" + PB.esc(JSON.stringify(x.evidence, null, 1)) + "</pre></li>";
        }).join("") + "</ul></details></td></tr>";
    }).join("") || '<tr><td colspan="7" class="empty">' + (isPublic ? "Sign in to see the fused alerts." : "No fused alerts match.") + "</td></tr>";
  }
  document.getElementById("filters").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  load();
})();
