/* The console's shared helpers: times in the viewer's zone (UTC on hover), JSON fetch
   with the project's error bodies turned into messages, and sign-out. */
"use strict";
window.PB = (function () {
  function fmtTime(unix) {
    const d = new Date(unix * 1000);
    return {
      local: d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "medium"}),
      utc: d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"),
      iso: d.toISOString(),
    };
  }
  function fillTimes(root) {
    (root || document).querySelectorAll("time[data-unix]").forEach(function (el) {
      const t = fmtTime(Number(el.dataset.unix));
      el.textContent = t.local;
      el.title = t.utc;
      el.setAttribute("datetime", t.iso);
    });
  }
  async function getJSON(url, options) {
    let resp;
    try {
      resp = await fetch(url, Object.assign({credentials: "same-origin", headers: {"Accept": "application/json"}}, options || {}));
    } catch (e) {
      throw new Error("The authority cannot be reached (" + e.message + ").");
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const msg = body && body.message ? body.message : ("HTTP " + resp.status);
      const err = new Error(msg);
      err.status = resp.status;
      err.code = body && body.error;
      throw err;
    }
    return body;
  }
  function postJSON(url, data) {
    return getJSON(url, {method: "POST", body: JSON.stringify(data),
      headers: {"Content-Type": "application/json", "Accept": "application/json"}});
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function timeTag(unix) {
    if (unix == null) return "—";
    const t = fmtTime(unix);
    return '<time datetime="' + t.iso + '" title="' + t.utc + '">' + esc(t.local) + "</time>";
  }
  document.addEventListener("DOMContentLoaded", function () {
    fillTimes();
    const out = document.getElementById("signout");
    if (out) out.addEventListener("click", async function () {
      await postJSON("/console/api/signout", {});
      location.reload();
    });
  });
  return {fmtTime: fmtTime, fillTimes: fillTimes, getJSON: getJSON, postJSON: postJSON, esc: esc, timeTag: timeTag};
})();
