/* The fleet page: licences with their budget use (an SVG chart per licence) and the chips
   that need attention. */
"use strict";
(function () {
  const status = document.getElementById("fleet-status");
  function fmt(n) { const x = Number(n); return x === 0 ? "0" : x.toExponential(2); }
  function chart(data) {
    const W = 640, H = 220, P = 40;
    const budget = Number(data.flop_budget);
    const pts = data.series.map(function (p) { return [p[0], Number(p[1])]; });
    const fig = document.getElementById("chart");
    fig.hidden = false;
    document.getElementById("chart-title").textContent = "Licence " + data.license_id + ": FLOP used over time (budget " + fmt(budget) + ")";
    if (!pts.length) { document.getElementById("chart-svg").innerHTML = '<p class="empty">No report names this licence yet.</p>'; return; }
    const t0 = pts[0][0], t1 = Math.max(pts[pts.length - 1][0], t0 + 1);
    const x = function (t) { return P + (W - 2 * P) * (t - t0) / (t1 - t0); };
    const y = function (v) { return H - P - (H - 2 * P) * Math.min(v / budget, 1.05); };
    const line = pts.map(function (p) { return x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" ");
    document.getElementById("chart-svg").innerHTML =
      '<svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="FLOP used over time" class="chart">' +
      '<line x1="' + P + '" y1="' + y(budget) + '" x2="' + (W - P) + '" y2="' + y(budget) + '" class="budget"/>' +
      '<text x="' + P + '" y="' + (y(budget) - 4) + '">budget ' + fmt(budget) + "</text>" +
      '<line x1="' + P + '" y1="' + (H - P) + '" x2="' + (W - P) + '" y2="' + (H - P) + '" class="axis"/>' +
      '<polyline points="' + line + '" class="used"/>' +
      '<text x="' + P + '" y="' + (H - P + 16) + '">' + PB.esc(PB.fmtTime(t0).local) + "</text>" +
      '<text x="' + (W - P) + '" y="' + (H - P + 16) + '" text-anchor="end">' + PB.esc(PB.fmtTime(t1).local) + "</text></svg>";
  }
  async function load() {
    let data;
    try { data = await PB.getJSON("/console/api/fleet"); }
    catch (e) { status.textContent = "Could not load the fleet: " + e.message; status.className = "status error"; return; }
    document.getElementById("silent-after").textContent = data.silent_after + " s";
    document.querySelector("#licences tbody").innerHTML = data.licences.map(function (l) {
      const pct = (100 * l.share_used).toFixed(1);
      return '<tr data-licence="' + l.license_id + '"><td>' + l.license_id + '</td><td><a href="/console/chips/' + l.chip_id + '"><code>' + l.chip_id.slice(0, 12) +
        "</code></a></td><td>" + PB.esc(l.owner_id) + "</td><td>" + PB.esc(l.run_id) + "</td><td>" + PB.timeTag(l.not_after) + "</td><td>" + l.status +
        '</td><td><div class="bar small" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="' + pct + '" aria-label="budget used"><span style="width:' +
        Math.min(100, pct) + '%"></span></div>' + fmt(l.flop_used) + " of " + fmt(l.flop_budget) + " (" + pct + " %)</td>" +
        '<td><button type="button" class="show-chart" data-licence="' + l.license_id + '">Chart</button></td></tr>';
    }).join("") || '<tr><td colspan="8" class="empty">No licences issued.</td></tr>';
    document.querySelector("#attention tbody").innerHTML = data.attention.map(function (c) {
      return '<tr data-chip="' + c.chip_id + '"><td><a href="/console/chips/' + c.chip_id + '"><code>' + c.chip_id.slice(0, 12) + "</code></a></td><td>" +
        PB.esc(c.owner_id || "—") + "</td><td>" + PB.esc(c.facility_id || "—") + "</td><td>" + PB.esc(c.state) + (c.silent ? " · <strong>silent</strong>" : "") +
        "</td><td>" + PB.timeTag(c.last_report_at) + '</td><td class="why">' + PB.esc(c.why) + "</td></tr>";
    }).join("") || '<tr><td colspan="6" class="empty">Every chip reports and runs licensed.</td></tr>';
    const nl = data.licences.length, na = data.attention.length;
    status.textContent = nl + (nl === 1 ? " licence; " : " licences; ") + na + (na === 1 ? " chip needs" : " chips need") + " attention.";
    document.body.dataset.fleetReady = "1";
  }
  document.getElementById("licences").addEventListener("click", async function (ev) {
    const b = ev.target.closest("button.show-chart");
    if (!b) return;
    try { chart(await PB.getJSON("/console/api/fleet/licences/" + b.dataset.licence + "/usage")); }
    catch (e) { status.textContent = "Could not load the chart: " + e.message; status.className = "status error"; }
  });
  load();
})();
