// What the wallet (app.js), the till (pos.js) and the gate (gate.js) share: building the DOM
// (text only, never HTML), showing a view, and reaching the API. Words come from i18n.js.
"use strict";

/** Builds an element: h("p", { class: "x" }, "text", child, …). */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** What the shown view must undo when it goes (a camera to turn off, a timer to stop). */
const leaving = [];

/** Runs `undo` when the next view is shown. */
function onLeave(undo) {
  leaving.push(undo);
}

/** Shows a view in the page's <main id="app">. Focus goes to its first field, or else to its
 * heading, so keyboard and screen-reader users land in the new view (instead of the whole
 * page being re-announced). */
function show(...nodes) {
  for (const leave of leaving.splice(0)) leave();
  const root = document.getElementById("app");
  root.replaceChildren(...nodes.flat().filter((node) => node !== null && node !== undefined && node !== false));
  // The language switch sits in the view's header bar (or on top when it has none).
  const bar = root.querySelector("header.bar");
  if (bar) bar.append(I18n.switcher());
  else root.prepend(h("div", { class: "lang-row" }, I18n.switcher()));
  const focus = root.querySelector("[autofocus]");
  if (focus) {
    focus.focus();
    return;
  }
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

/** A refusal from the API: its stable code, its details, and its plain-words message in the
 * page's language. */
class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** `fetch`, with a lost connection as a plain-words refusal. */
async function reach(path, init) {
  try {
    return await fetch(path, init);
  } catch (_) {
    throw new ApiError(0, "offline", t("error.offline"));
  }
}

/** An API answer: its JSON (null for 204), or its refusal thrown as an ApiError. */
async function answerOf(response) {
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    const code = error.code || (response.status >= 500 ? "internal" : "unknown");
    throw new ApiError(response.status, code, I18n.refusal(code, error.details, error.message), error.details);
  }
  return answer;
}

/** Money is always shown with its currency, in the page's language. */
const money = I18n.money;

/** An exact decimal string ("2000.00") as a number in minor units (200000n), or null. */
function minorUnits(text) {
  const parsed = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(text).trim());
  return parsed ? BigInt(parsed[1]) * 100n + BigInt((parsed[2] || "").padEnd(2, "0")) : null;
}

/** Minor units back to a decimal string ("12.30"). */
function decimal(minor) {
  const whole = minor / 100n;
  return `${whole}.${String(minor % 100n).padStart(2, "0")}`;
}

/** A PIN as the API takes it (6 digits); anything else is not sent, so it never counts as a
 * wrong try. Answers the problem's words, or null when the PIN may go. */
function pinProblem(pin) {
  if (!pin.trim()) return t("pin.missing");
  return /^\d{6}$/.test(pin) ? null : t("pin.shape");
}

/** A hint for a phone number typed in a visitor's local format: not a mainland mobile number
 * and no "+country code" (07911 123456, 202 555 0123). Null when none is needed. */
function phoneHint(text) {
  const compact = text.replace(/[\s\-().]/g, "");
  if (compact.startsWith("+") || compact.length < 6 || !/^\d+$/.test(compact)) return null;
  if (compact.startsWith("00")) return t("phone.hint_00");
  if (/^1[3-9]\d{0,9}$/.test(compact) && compact.length <= 11) return null;
  return t("phone.hint_country");
}

/** Bytes as lower-case hex. */
function hex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex digits as bytes. */
function hexBytes(text) {
  return new Uint8Array(text.match(/../g).map((pair) => parseInt(pair, 16)));
}

/** An Ed25519 signing key from its 32-byte seed (64 hex digits), non-extractable; `problem`
 * is the message when the text is not a seed. */
async function importEd25519Seed(seedHex, problem) {
  if (!/^[0-9a-fA-F]{64}$/.test(seedHex.trim())) throw new Error(problem);
  const prefix = "302e020100300506032b657004220420"; // PKCS #8 header of a raw Ed25519 seed
  return crypto.subtle.importKey("pkcs8", hexBytes(prefix + seedHex.trim()), { name: "Ed25519" }, false, ["sign"]);
}

/** Refusals that only mean "no code in this frame yet": the camera keeps looking. */
const STILL_LOOKING = new Set(["no_qr_code", "qr_undecodable", "scan_busy", "bad_image"]);

/**
 * Looks for a QR code through the camera, when the browser has one and the person allows it,
 * showing it in `video` and what is happening in `note`. Where the browser reads QR codes
 * itself (BarcodeDetector), frames never leave the device and `read` gets `{ text }`;
 * elsewhere it gets `{ still }`, a JPEG to have read by the server, about once a second.
 * `read` resolves true once the code is taken, false to go on looking. The camera turns off
 * when the view goes.
 */
async function watchCamera(video, note, read) {
  if (!navigator.mediaDevices?.getUserMedia) {
    note.textContent = t("camera.unsupported");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (_) {
    note.textContent = t("camera.denied");
    return;
  }
  let stopped = false;
  const stop = () => {
    stopped = true;
    stream.getTracks().forEach((track) => track.stop());
  };
  if (!video.isConnected) {
    stop();
    return;
  }
  // Off when the view goes, or when the page is hidden (another app, a locked screen).
  const hidden = () => {
    if (document.hidden) {
      stop();
      video.hidden = true;
      note.textContent = t("camera.background");
    }
  };
  document.addEventListener("visibilitychange", hidden);
  onLeave(() => {
    document.removeEventListener("visibilitychange", hidden);
    stop();
  });
  video.srcObject = stream;
  video.hidden = false;
  try { await video.play(); } catch (_) { /* a muted inline video plays; if not, frames still come */ }
  const detector = await qrDetector();
  note.textContent = detector ? t("camera.point") : t("camera.point_server");
  const look = async () => {
    if (stopped) return;
    if (video.readyState >= 2) {
      let found = null;
      if (detector) {
        const [code] = await detector.detect(video).catch(() => []);
        if (code) found = { text: code.rawValue };
      } else {
        found = { still: await still(video) };
      }
      if (found && !stopped && (await read(found))) {
        stop();
        return;
      }
    }
    if (!stopped) setTimeout(look, detector ? 200 : 900);
  };
  look();
}

/** The browser's own QR reader, where it has one. */
async function qrDetector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch (_) {
    return null;
  }
}

/** One frame of the video as a JPEG, at most 960 pixels on its long side. */
function still(video) {
  const scale = Math.min(1, 960 / Math.max(video.videoWidth, video.videoHeight));
  const canvas = h("canvas", { width: Math.round(video.videoWidth * scale), height: Math.round(video.videoHeight * scale) });
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}
