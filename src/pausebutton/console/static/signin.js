/* Sign-in: fetch a challenge, sign it (WebCrypto, or paste a CLI signature), post it. */
"use strict";
(function () {
  const status = document.getElementById("signin-status");
  let challenge = null;
  function say(text, ok) { status.textContent = text; status.className = "status " + (ok ? "ok" : "error"); }
  async function newChallenge() {
    const c = await PB.getJSON("/console/api/challenge");
    challenge = c.challenge;
    document.getElementById("challenge").textContent = challenge;
    return challenge;
  }
  async function submit(keyId, signature, text) {
    try {
      const who = await PB.postJSON("/console/api/session", {key_id: keyId, challenge: text, signature: signature});
      say("Signed in as " + who.name + " (" + who.role + ").", true);
      document.body.dataset.signedIn = who.role;
      setTimeout(function () { location.href = "/console/"; }, 600);
    } catch (e) {
      say("Sign-in refused: " + e.message, false);
      newChallenge().catch(function () {});
    }
  }
  document.getElementById("signin-file").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const file = document.getElementById("keyfile").files[0];
    if (!file) { say("Choose your private key file first.", false); return; }
    try {
      const k = await PBKey.load(file);
      const text = await newChallenge();
      const sig = await PBKey.sign(k.key, new TextEncoder().encode(text));
      await submit(k.keyId, sig, text);
    } catch (e) { say(e.message, false); }
  });
  document.getElementById("signin-cli").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const kid = document.getElementById("key-id").value.trim();
    const sig = document.getElementById("signature").value.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(kid)) { say("The key id is 64 hex digits (pausebutton keys show KEYFILE).", false); return; }
    if (!sig) { say("Paste the signature the CLI printed.", false); return; }
    submit(kid, sig, challenge);
  });
  document.getElementById("new-challenge").addEventListener("click", newChallenge);
  newChallenge().catch(function (e) { say("Could not get a challenge: " + e.message, false); });
})();
