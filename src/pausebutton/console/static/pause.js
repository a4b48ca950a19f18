/* The pause page: open proposals with K-of-N progress, orders with live delivery
   (server-sent events from /console/api/pause/stream); members sign from the page. */
"use strict";
(function () {
  const role = document.body.dataset.role;
  const live = document.getElementById("live");
  const action = document.getElementById("action-status");
  let shown = {proposals: null, orders: null, key: null, apps: null};
  let data = JSON.parse(document.getElementById("pause-data").textContent);
  let skew = 0;  // server now - browser now, seconds
  let memberKey = null;

  function bar(value, max, label) {
    const pct = max ? Math.min(100, Math.round(100 * value / max)) : 0;
    return '<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="' + max + '" aria-valuenow="' + value +
      '" aria-label="' + PB.esc(label) + '"><span style="width:' + pct + '%"></span></div>';
  }
  function scopeText(s) {
    if (s.kind === "global") return "global";
    if (s.kind === "region") return "regions " + s.regions.join(", ");
    if (s.kind === "owner") return "owners " + s.owners.join(", ");
    return "chips " + s.chips.map(function (c) { return c.slice(0, 8); }).join(", ");
  }
  function since(unix) {
    if (unix == null) return "—";
    const s = Math.max(0, Date.now() / 1000 + skew - unix);
    return s < 120 ? s.toFixed(0) + " s" : s < 7200 ? (s / 60).toFixed(0) + " min" : (s / 3600).toFixed(1) + " h";
  }
  function proposals() {
    const el = document.getElementById("proposals");
    if (!data.proposals.length) { el.innerHTML = '<p class="empty">No open proposals.</p>'; return; }
    el.innerHTML = data.proposals.map(function (p) {
      const n = p.signed_by.length;
      const signForm = role === "member"
        ? '<form class="sign" data-id="' + p.id + '" data-input="' + PB.esc(p.signing_input) + '">' +
          (memberKey ? "" : '<label>Your member key file <input type="file" class="keyfile" accept=".json"></label> ') +
          '<button type="submit">Sign proposal ' + p.id + "</button></form>"
        : "";
      return '<article class="proposal" data-proposal="' + p.id + '"><h3>' + PB.esc(p.kind) + " #" + p.sequence +
        ' <small>proposal ' + p.id + " by " + PB.esc(p.proposer) + ", " + PB.timeTag(p.created_at) + "</small></h3>" +
        "<p>" + PB.esc(p.payload.reason || "") + " · scope " + scopeText(p.payload.scope || {kind: "global"}) + "</p>" +
        bar(n, p.threshold, "signatures") +
        '<p class="progress"><strong class="sigs">' + n + " of " + p.threshold + "</strong> signatures needed" +
        (n ? " · signed by " + p.signed_by.map(PB.esc).join(", ") : "") + "</p>" + signForm + "</article>";
    }).join("");
  }
  function orders() {
    const el = document.getElementById("orders");
    if (!data.orders.length) { el.innerHTML = '<p class="empty">No orders yet.</p>'; return; }
    el.innerHTML = data.orders.map(function (o) {
      const d = o.delivery;
      const pct = (100 * d.share).toFixed(d.share === 1 || d.share === 0 ? 0 : 1);
      const done = d.total > 0 && d.held === d.total;
      const k = o.kth_signature_at != null ? o.kth_signature_at : o.assembled_at;
      const took = done && d.last_at != null ? Math.max(0, d.last_at - k) + " s after the K-th signature" : "";
      return '<article class="order" data-order="' + o.sequence + '"><h3>' + (o.kind === "pause" ? "PAUSE" : "RESUME") + " order " + o.sequence +
        (o.lifts ? " (lifts " + o.lifts + ")" : "") + ' <small class="' + (o.active ? "active" : "") + '">' +
        (o.kind === "pause" ? (o.active ? "in force" : "lifted") : "") + "</small></h3>" +
        "<p>scope " + scopeText(o.scope) + " · signed by " + o.signed_by.map(PB.esc).join(", ") +
        " · assembled " + PB.timeTag(o.assembled_at) +
        (o.log_index != null ? " · log entry " + o.log_index : "") + "</p>" +
        bar(d.held, d.total, "chips holding the order") +
        '<p class="delivery"><strong class="held">' + d.held + " of " + d.total + " chips (" + pct + " %)</strong> hold the order" +
        ' · <span class="since" data-k="' + k + '">' + since(k) + "</span> since the K-th signature" +
        (took ? ' · <span class="took">100 % ' + took + "</span>" : "") + "</p></article>";
    }).join("");
  }
  function applications() {
    const el = document.getElementById("applications");
    const apps = data.applications || [];
    if (!apps.length) { el.innerHTML = '<p class="empty">No licence applications await approval.</p>'; return; }
    el.innerHTML = apps.map(function (a) {
      const n = a.approvals.length;
      return '<article class="application" data-application="' + a.id + '"><h3>Application ' + a.id + " · " + PB.esc(a.owner_id) + " · run " + PB.esc(a.run_id) +
        " <small>" + PB.timeTag(a.created_at) + "</small></h3><p>" + Number(a.flop_budget).toExponential(2) + " FLOP on " + a.chips + " chips" +
        (a.purpose ? " · " + PB.esc(a.purpose) : "") + "</p>" + bar(n, a.approvals_required, "approvals") +
        '<p class="progress"><strong class="approvals">' + n + " of " + a.approvals_required + "</strong> approvals" +
        (n ? " · approved by " + a.approvals.map(PB.esc).join(", ") : "") + "</p>" +
        (a.reasons.length ? "<ul>" + a.reasons.map(function (r) { return "<li>" + PB.esc(r) + "</li>"; }).join("") + "</ul>" : "") +
        (role === "member" ? '<button type="button" class="approve" data-id="' + a.id + '">Approve application ' + a.id + "</button>" : "") + "</article>";
    }).join("");
  }
  document.getElementById("applications").addEventListener("click", async function (ev) {
    const b = ev.target.closest("button.approve");
    if (!b) return;
    try {
      const out = await PB.postJSON("/console/api/applications/" + b.dataset.id + "/approvals", {});
      say("approved: " + out.approvals.length + " of " + out.approvals_required + (out.status === "issued" ? " — licences issued" : ""), true);
    } catch (e) { say("Approval refused: " + e.message, false); }
  });
  function lists() {
    const el = document.getElementById("lists");
    const ls = data.prohibited_lists || [];
    el.innerHTML = ls.length ? "<table><thead><tr><th scope=\"col\">List</th><th scope=\"col\">Artifacts</th><th scope=\"col\">Issued</th><th scope=\"col\">Log entry</th></tr></thead><tbody>" +
      ls.map(function (l) {
        return "<tr><td>" + l.sequence + "</td><td>" + l.artifacts + "</td><td>" + PB.timeTag(l.issued_at) + "</td><td>" + (l.log_index == null ? "—" : l.log_index) + "</td></tr>";
      }).join("") + "</tbody></table>" : '<p class="empty">No prohibited list published.</p>';
  }
  function render() {
    skew = data.now - Date.now() / 1000;
    // redraw only what changed: a member's half-filled form survives other updates
    const p = JSON.stringify(data.proposals), o = JSON.stringify(data.orders);
    if (p !== shown.proposals || shown.key !== !!memberKey) { proposals(); shown.proposals = p; shown.key = !!memberKey; }
    if (o !== shown.orders) { orders(); shown.orders = o; }
    const l = JSON.stringify(data.prohibited_lists);
    if (l !== shown.lists) { lists(); shown.lists = l; }
    const a = JSON.stringify(data.applications);
    if (a !== shown.apps) { applications(); shown.apps = a; }
  }
  function say(text, ok) { action.textContent = text; action.className = "status " + (ok ? "ok" : "error"); }
  function tick() {
    document.querySelectorAll(".since[data-k]").forEach(function (el) { el.textContent = since(Number(el.dataset.k)); });
  }
  document.getElementById("proposals").addEventListener("change", async function (ev) {
    if (!ev.target.classList.contains("keyfile")) return;
    try {
      memberKey = await PBKey.load(ev.target.files[0]);
      say("key loaded: " + memberKey.keyId.slice(0, 16) + "…", true);
    } catch (e) { say(e.message, false); }
  });
  document.getElementById("proposals").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const form = ev.target;
    if (!memberKey) { say("Choose your member key file first.", false); return; }
    try {
      const sig = await PBKey.sign(memberKey.key, PBKey.unhex(form.dataset.input));
      const out = await PB.postJSON("/console/api/proposals/" + form.dataset.id + "/signatures", {sig: sig});
      say("signed: " + out.signed_by.length + " of " + out.threshold + (out.status === "assembled" ? " — order assembled" : ""), true);
    } catch (e) { say("Signature refused: " + e.message, false); }
  });
  render();
  setInterval(tick, 1000);
  function connect() {
    const es = new EventSource("/console/api/pause/stream");
    es.addEventListener("pause", function (ev) {
      data = JSON.parse(ev.data);
      render();
      live.textContent = "live"; live.className = "live ok";
      document.body.dataset.updated = String(Date.now());
    });
    es.onerror = function () { live.textContent = "reconnecting…"; live.className = "live error"; };
  }
  connect();
})();
