// Cashless gate: a transit gate in a browser (a tablet at a station, or a bus's reader). It
// is opened with the gate's id and its Ed25519 key — in memory only, as a non-extractable
// WebCrypto key: a reload asks for it again — and then decides OFFLINE, in the page, as
// `cashless_transit::Gate` does: issuer keys and blacklist from the last download, its own
// clock, signatures checked with WebCrypto. The camera (or a dropped picture, or a scanner
// that types) gives the code; where the browser cannot read QR codes itself, a still goes to
// the platform's reader, signed by the gate. Opened taps are kept in this browser until the
// gate uploads them, signed, in a batch (`POST /v1/transit/taps`). Its words (the refusals
// included, `gate.refusal.<reason>`, one per reason of `cashless_transit::Refusal`) come from
// the language tables (t(), i18n.js).
"use strict";

const SCAN_DOMAIN = "cashless-gate-scan-v1\n";
const BATCH_DOMAIN = "cashless-gate-batch-v1\n";
const FRESHNESS = { maxAge: 90, skew: 30 };
/** Taps in one upload: the platform's `BATCH_TAPS_MAX`. */
const TAPS_PER_BATCH_MAX = 1000;

/** Base45 (RFC 9285) to bytes, or null. */
function base45Decode(text) {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  if (text.length % 3 === 1) return null;
  const out = [];
  for (let i = 0; i < text.length; i += 3) {
    const chunk = [...text.slice(i, i + 3)].map((c) => alphabet.indexOf(c));
    if (chunk.includes(-1)) return null;
    const n = chunk[0] + chunk[1] * 45 + (chunk.length === 3 ? chunk[2] * 2025 : 0);
    if (chunk.length === 3) {
      if (n > 0xffff) return null;
      out.push(n >> 8, n & 0xff);
    } else {
      if (n > 0xff) return null;
      out.push(n);
    }
  }
  return new Uint8Array(out);
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
};
const text = (s) => new TextEncoder().encode(s);

/** The gate's own decisions, offline. */
class OfflineGate {
  constructor(place, config) {
    this.place = place;
    this.issuerKeys = new Map(config.issuer_keys.map((k) => [k.id, k.public_key]));
    this.blacklist = new Set(config.blacklist);
    this.blacklistVersion = config.blacklist_version;
    this.opened = new Map();
  }

  async verify(publicKeyHex, signature, message) {
    const key = await crypto.subtle.importKey("raw", hexBytes(publicKeyHex), { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify("Ed25519", key, signature, message);
  }

  /** `{ open: true, tap }` or `{ open: false, reason }` for the scanned text at `now`. */
  async decide(scanned, now) {
    const refuse = (reason) => ({ open: false, reason });
    const body = scanned.replace(/[\r\n]+$/, "");
    if (!body.startsWith("CT1:") || body.length !== 300) return refuse("malformed");
    const bytes = base45Decode(body.slice(4));
    if (!bytes || bytes.length !== 197 || bytes[0] !== 1) return refuse("malformed");
    const view = new DataView(bytes.buffer);
    const cert = {
      issuerKeyId: view.getUint16(1),
      accountRef: hex(bytes.slice(11, 19)),
      deviceKey: hex(bytes.slice(19, 51)),
      notBefore: view.getUint32(55),
      notAfter: view.getUint32(59),
      operator: view.getUint16(63),
    };
    if (cert.notAfter < cert.notBefore) return refuse("malformed");
    if (cert.operator !== this.place.operator) return refuse("wrong_operator");
    const issuer = this.issuerKeys.get(cert.issuerKeyId);
    if (!issuer) return refuse("unknown_issuer_key");
    const certOk = await this.verify(issuer, bytes.slice(65, 129), concat(text("cashless-transit-cert-v1"), bytes.slice(0, 65)))
      .catch(() => false);
    if (!certOk) return refuse("bad_certificate");
    if (now + FRESHNESS.skew < cert.notBefore) return refuse("certificate_not_yet_valid");
    if (now > cert.notAfter + FRESHNESS.skew) return refuse("certificate_expired");
    const codeOk = await this.verify(cert.deviceKey, bytes.slice(133, 197), concat(text("cashless-transit-code-v1"), bytes.slice(0, 133)))
      .catch(() => false);
    if (!codeOk) return refuse("bad_signature");
    const madeAt = view.getUint32(129);
    if (madeAt > now + FRESHNESS.skew) return refuse("code_from_the_future");
    if (now > madeAt + FRESHNESS.maxAge) return refuse("code_too_old");
    if (this.blacklist.has(cert.accountRef)) return refuse("blacklisted");
    const digest = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).slice(0, 16));
    const keep = FRESHNESS.maxAge + 2 * FRESHNESS.skew;
    for (const [seen, at] of this.opened) if (at + keep < now) this.opened.delete(seen);
    if (this.opened.has(digest)) return refuse("replay");
    this.opened.set(digest, now);
    const { gate_id, operator, line, station, direction } = this.place;
    return { open: true, tap: { gate_id, operator, line, station, direction, at: now, code: body, code_digest: digest } };
  }
}

/** A request signed by the gate: `domain` followed by the body. */
async function gateFetch(gate, method, path, domain, body, type) {
  const bytes = body || new Uint8Array();
  const signature = hex(await crypto.subtle.sign("Ed25519", gate.key, concat(text(domain), bytes)));
  const headers = { "cashless-gate-id": gate.id, "cashless-gate-signature": signature };
  if (body) headers["content-type"] = type;
  return answerOf(await reach(path, { method, headers, body: body || undefined }));
}

/** What the gate shows, to draw again in another language. */
let redraw = null;

function setupView(problem) {
  redraw = () => setupView(problem);
  const id = h("input", { id: "gate-id", autocomplete: "off", required: true, spellcheck: "false" });
  const key = h("input", { id: "gate-key", type: "password", autocomplete: "off", required: true });
  const error = h("p", { class: "error", role: "alert", id: "gate-error" }, problem || "");
  const form = h("form", { novalidate: true },
    h("label", { for: "gate-id" }, t("gate.id")), id,
    h("label", { for: "gate-key" }, t("gate.key")), key,
    error,
    h("button", { class: "primary", type: "submit" }, t("gate.open")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const gate = { id: id.value.trim(), key: await importEd25519Seed(key.value, t("gate.key_shape")) };
      gate.place = await gateFetch(gate, "GET", "/v1/transit/gate", SCAN_DOMAIN);
      const config = await answerOf(await reach(`/v1/transit/gate-config?operator=${gate.place.operator}`));
      const network = await answerOf(await reach(`/v1/transit/network?operator=${gate.place.operator}`));
      const stop = network.lines.flatMap((line) => line.stops).find((s) => s.station === gate.place.station);
      gate.stationName = stop ? stop.name : gate.place.station;
      gate.operatorName = network.name;
      key.value = "";
      gateView(gate, new OfflineGate(gate.place, config));
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  show(h("header", { class: "bar" }, h("h1", {}, t("title.gate")), h("p", {}, t("gate.tagline"))),
    h("section", { class: "card" }, form));
}

function gateView(gate, offline) {
  redraw = () => gateView(gate, offline);
  const storeKey = `cashless.gate.taps.${gate.id}`;
  const kept = () => JSON.parse(localStorage.getItem(storeKey) || "[]");
  const place = gate.place;
  const panel = h("div", { class: "gate-panel", id: "gate-panel", role: "status", "aria-live": "assertive" }, t("gate.show_code"));
  const count = h("p", { class: "hint", id: "gate-taps" });
  const uploaded = h("p", { role: "status", id: "gate-upload-status" });
  const note = h("p", { class: "hint", id: "gate-camera-note" });
  const video = h("video", { id: "gate-camera", hidden: true, muted: true, playsinline: true, "aria-label": t("gate.camera") });
  const refresh = () => { count.textContent = t("gate.waiting_taps", { count: kept().length, n: I18n.number(kept().length) }); };
  let last = "";
  const decideOn = async (scanned) => {
    if (scanned === last) return;
    last = scanned;
    const decision = await offline.decide(scanned, Math.floor(Date.now() / 1000));
    if (decision.open) {
      localStorage.setItem(storeKey, JSON.stringify([...kept(), decision.tap]));
      panel.className = "gate-panel open";
      panel.textContent = place.direction === "entry" ? t("gate.open_entry") : t("gate.open_exit");
    } else {
      panel.className = "gate-panel refused";
      panel.textContent = t(`gate.refusal.${decision.reason}`);
    }
    panel.dataset.reason = decision.open ? "open" : decision.reason;
    refresh();
  };
  const readPicture = async (picture, live) => {
    const bytes = new Uint8Array(await picture.arrayBuffer());
    const read = await gateFetch(gate, "POST", `/v1/transit/scan-image${live ? "?live=true" : ""}`, SCAN_DOMAIN, bytes, picture.type || "image/png");
    return read.text;
  };
  const file = h("input", { id: "gate-picture", type: "file", accept: "image/*" });
  file.addEventListener("change", async () => {
    if (!file.files[0]) return;
    try {
      await decideOn(await readPicture(file.files[0], false));
    } catch (failure) {
      panel.className = "gate-panel refused";
      panel.textContent = failure.message;
    }
    file.value = "";
  });
  const typed = h("input", { id: "gate-typed", autocomplete: "off", spellcheck: "false" });
  const typedForm = h("form", { novalidate: true }, h("label", { for: "gate-typed" }, t("gate.scanner_input")), typed);
  typedForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    last = "";
    await decideOn(typed.value);
    typed.value = "";
  });
  const camera = h("button", { class: "primary secondary", type: "button", id: "gate-camera-on" }, t("gate.use_camera"));
  camera.addEventListener("click", () => watchCamera(video, note, async (found) => {
    try {
      const scanned = found.text || await readPicture(found.still, true);
      await decideOn(scanned);
    } catch (failure) {
      if (!STILL_LOOKING.has(failure.code)) note.textContent = failure.message;
    }
    return false;
  }));
  const upload = h("button", { class: "primary", type: "button", id: "gate-upload" }, t("gate.upload"));
  upload.addEventListener("click", async () => {
    // A batch carries at most 1,000 taps (the platform's bound): more wait for the next press.
    const taps = kept().slice(0, TAPS_PER_BATCH_MAX);
    if (!taps.length) { uploaded.textContent = t("gate.nothing_to_upload"); return; }
    upload.disabled = true;
    try {
      const digest = hex(await crypto.subtle.digest("SHA-256", text(JSON.stringify(taps))));
      const body = text(JSON.stringify({ gate_id: gate.id, batch_id: `web-${digest.slice(0, 32)}`, taps }));
      const result = await gateFetch(gate, "POST", "/v1/transit/taps", BATCH_DOMAIN, body, "application/json");
      // Taps kept meanwhile stay for the next upload.
      localStorage.setItem(storeKey, JSON.stringify(kept().slice(taps.length)));
      uploaded.textContent = t("gate.uploaded", {
        accepted: I18n.number(result.accepted), before: I18n.number(result.already_uploaded),
        reused: I18n.number(result.reused), refused: I18n.number(result.rejected.length),
      });
    } catch (failure) {
      uploaded.textContent = failure.message;
    } finally {
      upload.disabled = false;
      refresh();
    }
  });
  refresh();
  show(h("header", { class: "bar" }, h("h1", {}, `${gate.stationName} · ${t(`gate.direction.${place.direction}`)}`),
      h("p", {}, t("gate.place", { operator: gate.operatorName, line: place.line, gate: gate.id, version: offline.blacklistVersion }))),
    h("section", { class: "card center" }, panel, video, note, camera,
      h("label", { class: "primary button secondary", for: "gate-picture" }, t("gate.scan_picture")), file, typedForm),
    h("section", { class: "card" }, count, upload, uploaded));
}

I18n.page("title.gate", () => redraw());
setupView();
