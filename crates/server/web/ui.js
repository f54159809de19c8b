// What the wallet (app.js) and the till (pos.js) share: building the DOM (text only, never
// HTML), showing a view, and writing money and messages.
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

/** Shows a view in the page's <main id="app">. Focus goes to its first field, or else to its
 * heading, so keyboard and screen-reader users land in the new view (instead of the whole
 * page being re-announced). */
function show(...nodes) {
  const root = document.getElementById("app");
  root.replaceChildren(...nodes.flat().filter((node) => node !== null && node !== undefined && node !== false));
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

/** The API's messages are clauses ("the code is wrong; …"): shown as sentences. */
function sentence(text) {
  const trimmed = String(text || "something went wrong").trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** "2000.00" → "2,000.00": grouping on the string, never through floating point. */
function grouped(amount) {
  const negative = amount.startsWith("-");
  const [whole, fraction] = amount.replace("-", "").split(".");
  const withCommas = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "−" : ""}${withCommas}${fraction === undefined ? "" : "." + fraction}`;
}

/** Bytes as lower-case hex. */
function hex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex digits as bytes. */
function hexBytes(text) {
  return new Uint8Array(text.match(/../g).map((pair) => parseInt(pair, 16)));
}
