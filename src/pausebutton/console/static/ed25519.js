/* Ed25519 signing in the browser (WebCrypto) with a pausebutton key file's seed. */
"use strict";
window.PBKey = (function () {
  // PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410)
  const PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
  function b64bytes(s) { return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }); }
  function hex(bytes) { return Array.from(new Uint8Array(bytes), function (b) { return b.toString(16).padStart(2, "0"); }).join(""); }
  function unhex(s) { const out = new Uint8Array(s.length / 2); for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16); return out; }
  async function load(file) {
    let doc;
    try { doc = JSON.parse(await file.text()); } catch (e) { throw new Error("This file is not a pausebutton key file (not JSON)."); }
    if (!doc || doc.kind !== "pausebutton-ed25519-private" || typeof doc.seed !== "string") {
      throw new Error(doc && doc.kind === "pausebutton-ed25519-public"
        ? "This is a public key file: choose the private key file." : "This file is not a pausebutton private key file.");
    }
    const seed = b64bytes(doc.seed);
    if (seed.length !== 32) throw new Error("The key file's seed is not 32 bytes.");
    const pkcs8 = new Uint8Array(PREFIX.length + 32);
    pkcs8.set(PREFIX); pkcs8.set(seed, PREFIX.length);
    let key;
    try {
      key = await crypto.subtle.importKey("pkcs8", pkcs8, {name: "Ed25519"}, false, ["sign"]);
    } catch (e) {
      throw new Error("This browser cannot sign with Ed25519 (WebCrypto): use the CLI form below.");
    }
    return {key: key, keyId: doc.key_id};
  }
  async function sign(key, bytes) { return hex(await crypto.subtle.sign({name: "Ed25519"}, key, bytes)); }
  return {load: load, sign: sign, hex: hex, unhex: unhex};
})();
