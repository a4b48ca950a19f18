/* Transparency-log checks in the browser (WebCrypto): RFC 9162 inclusion proofs and C2SP
   signed-note checkpoints (the log's Ed25519 signature, witnesses' cosignature/v1). */
"use strict";
window.PBLog = (function () {
  const enc = new TextEncoder();
  function b64(s) { return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }); }
  function hex(bytes) { return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join(""); }
  function concat() {
    const parts = Array.from(arguments);
    const out = new Uint8Array(parts.reduce(function (n, p) { return n + p.length; }, 0));
    let o = 0;
    parts.forEach(function (p) { out.set(p, o); o += p.length; });
    return out;
  }
  async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }
  function leafHash(data) { return sha256(concat(new Uint8Array([0]), data)); }
  function nodeHash(l, r) { return sha256(concat(new Uint8Array([1]), l, r)); }
  function equal(a, b) { return a.length === b.length && a.every(function (x, i) { return x === b[i]; }); }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to (null if malformed)
  async function rootFromInclusion(index, size, leaf, proof) {
    if (index >= size) return null;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // a signed note: its text (up to and including the first blank line's newline) and lines
  function parseNote(note) {
    const cut = note.indexOf("\n\n");
    if (cut < 0) throw new Error("not a signed note");
    const text = note.slice(0, cut + 1);
    const sigs = note.slice(cut + 2).split("\n").filter(Boolean).map(function (line) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Error("malformed signature line");
      const blob = b64(m[2]);
      return {name: m[1], keyHash: blob.slice(0, 4), sig: blob.slice(4)};
    });
    const body = text.split("\n");
    return {text: text, origin: body[0], size: Number(body[1]), root: b64(body[2]), sigs: sigs};
  }
  async function keyHash(name, type, pub) {
    return (await sha256(concat(enc.encode(name + "\n"), new Uint8Array([type]), pub))).slice(0, 4);
  }
  async function ed25519(pub, sig, msg) {
    const key = await crypto.subtle.importKey("raw", pub, {name: "Ed25519"}, false, ["verify"]);
    return crypto.subtle.verify({name: "Ed25519"}, key, sig, msg);
  }
  // which known keys signed the note: {log: n, witnesses: n}
  async function verifyNote(note, keys) {
    const out = {log: 0, witnesses: 0, unknown: 0};
    for (const s of note.sigs) {
      let matched = false;
      for (const k of keys.log_keys.concat(keys.witness_keys)) {
        const pub = b64(k.public_key);
        if (k.name !== s.name || !equal(await keyHash(k.name, k.type, pub), s.keyHash)) continue;
        matched = true;
        if (k.type === 1) {
          if (await ed25519(pub, s.sig, enc.encode(note.text))) out.log += 1;
        } else if (s.sig.length === 72) {
          let t = 0n;
          for (const b of s.sig.slice(0, 8)) t = (t << 8n) | BigInt(b);
          const msg = enc.encode("cosignature/v1\ntime " + t.toString() + "\n" + note.text);
          if (await ed25519(pub, s.sig.slice(8), msg)) out.witnesses += 1;
        }
      }
      if (!matched) out.unknown += 1;
    }
    return out;
  }
  // fetch the entry, its proof and checkpoint from the log's API; verify all in the browser
  async function verifyEntry(index, keys) {
    const entry = await PB.getJSON("/v1/log/entries?start=" + index + "&end=" + (index + 1));
    const proof = await PB.getJSON("/v1/log/proof/inclusion?index=" + index);
    const note = parseNote(proof.checkpoint);
    const signed = await verifyNote(note, keys);
    const leaf = await leafHash(b64(entry.entries[0]));
    const root = await rootFromInclusion(proof.leaf_index, proof.tree_size, leaf, proof.proof.map(b64));
    const included = root !== null && note.size === proof.tree_size && equal(root, note.root);
    return {
      ok: included && note.origin === keys.origin && signed.log >= keys.log_threshold,
      included: included, origin: note.origin === keys.origin, signed: signed,
      size: note.size, root: hex(note.root), leaf: hex(leaf),
    };
  }
  return {rootFromInclusion: rootFromInclusion, parseNote: parseNote, verifyNote: verifyNote,
    verifyEntry: verifyEntry, leafHash: leafHash, hex: hex, b64: b64};
})();
