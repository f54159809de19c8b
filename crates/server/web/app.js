// Cashless wallet in the browser: a small single-page app over the public JSON API.
// No framework and no build step; the server embeds this file. Every text from the server
// goes in through textContent, never as HTML.
"use strict";

const TOKEN_KEY = "cashless.session";
const app = document.getElementById("app");

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

function show(...nodes) {
  app.replaceChildren(...nodes);
  const focus = app.querySelector("[autofocus]");
  if (focus) focus.focus();
}

/** A refusal from the API: its stable code and its plain-words message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, extraHeaders) {
  const raw = body instanceof Blob;
  const headers = { "content-type": raw ? body.type || "application/octet-stream" : "application/json", ...extraHeaders };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
  } catch (_) {
    throw new ApiError(0, "offline", "Cannot reach Cashless. Check the connection and try again.");
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    if (response.status === 401 && token) {
      localStorage.removeItem(TOKEN_KEY);
      route();
    }
    throw new ApiError(response.status, error.code || "error", sentence(error.message || "something went wrong"));
  }
  return answer;
}

/** The API's messages are clauses ("the code is wrong; …"): shown as sentences. */
function sentence(text) {
  const trimmed = text.trim();
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

/** Money is always shown with its currency. */
function money(value) {
  return `${grouped(value.amount)} ${value.currency}`;
}

function when(rfc3339) {
  const date = new Date(rfc3339);
  return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const KIND_NAMES = {
  top_up: "Top-up",
  withdrawal: "Withdrawal",
  payment: "Payment",
  refund: "Refund",
};

// ---- sign in ------------------------------------------------------------------------------

function signInView() {
  const phoneError = h("p", { class: "error", id: "phone-error", role: "alert" });
  const codeError = h("p", { class: "error", id: "code-error", role: "alert" });
  const phone = h("input", {
    id: "phone", name: "phone", type: "tel", autocomplete: "tel", inputmode: "tel",
    placeholder: "+86 138 0013 8001", "aria-describedby": "phone-error", autofocus: true,
  });
  const code = h("input", {
    id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
    maxlength: "6", placeholder: "6 digits", "aria-describedby": "code-error",
  });
  const demo = h("div", { class: "demo", hidden: true, id: "demo-code" });
  const codeStep = h("div", { hidden: true },
    h("label", { for: "code" }, "Code from the text message"), code, codeError, demo,
    h("button", { class: "primary", type: "submit", id: "sign-in" }, "Sign in"));
  const send = h("button", { class: "primary", type: "button", id: "send-code" }, "Send code");

  send.addEventListener("click", async () => {
    phoneError.textContent = "";
    phone.removeAttribute("aria-invalid");
    send.disabled = true;
    try {
      const sent = await api("POST", "/v1/auth/sms-codes", { phone: phone.value });
      codeStep.hidden = false;
      send.textContent = "Send again";
      if (sent.demo_code) {
        demo.hidden = false;
        demo.replaceChildren("Demo: the code texted to ", sent.phone, " is ", h("code", {}, sent.demo_code));
      }
      code.focus();
    } catch (error) {
      phone.setAttribute("aria-invalid", "true");
      phoneError.textContent = error.message;
    } finally {
      send.disabled = false;
    }
  });

  const form = h("form", { novalidate: true },
    h("label", { for: "phone" }, "Mobile number"), phone, phoneError, send, codeStep);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    codeError.textContent = "";
    code.removeAttribute("aria-invalid");
    try {
      const signedIn = await api("POST", "/v1/auth/sign-in", {
        phone: phone.value,
        code: code.value,
        device: { name: browserName() },
      });
      localStorage.setItem(TOKEN_KEY, signedIn.token);
      location.hash = "#/home";
      route();
    } catch (error) {
      code.setAttribute("aria-invalid", "true");
      codeError.textContent = error.message;
    }
  });

  show(
    h("header", { class: "bar" }, h("h1", {}, "Cashless"), h("p", {}, "Pay anywhere in the city with your phone")),
    h("section", { class: "card lift", "aria-labelledby": "sign-in-title" },
      h("h2", { id: "sign-in-title" }, "Sign in or sign up"), form,
      h("p", { class: "hint" }, "New numbers get an account. We text you a 6-digit code.")),
  );
}

function browserName() {
  const agent = navigator.userAgent;
  if (/iPhone|iPad/.test(agent)) return "iPhone browser";
  if (/Android/.test(agent)) return "Android browser";
  return "Web browser";
}

// ---- home ---------------------------------------------------------------------------------

async function homeView() {
  show(h("p", { class: "hint pad" }, "Loading…"));
  let me;
  let statement;
  try {
    [me, statement] = await Promise.all([
      api("GET", "/v1/me"),
      api("GET", "/v1/me/statement?limit=10"),
    ]);
  } catch (error) {
    if (!localStorage.getItem(TOKEN_KEY)) return;
    show(h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, error.message),
      h("button", { class: "primary", onclick: route }, "Try again")));
    return;
  }
  const balance = me.balance;
  const items = statement.items.map((item) => {
    const incoming = !item.amount.amount.startsWith("-");
    return h("li", {},
      h("div", { class: "item-what" },
        h("strong", {}, item.counterparty || KIND_NAMES[item.kind] || item.kind),
        h("span", {}, `${KIND_NAMES[item.kind] || item.kind} · ${when(item.created_at)}`)),
      h("div", {},
        h("span", { class: `amount${incoming ? " in" : ""}` }, `${incoming ? "+" : ""}${money(item.amount)}`),
        item.status === "succeeded" ? null : h("span", { class: "status" }, item.status)));
  });

  const signOut = h("button", { class: "link", type: "button", id: "sign-out" }, "Sign out");
  signOut.addEventListener("click", async () => {
    try { await api("POST", "/v1/auth/sign-out"); } catch (_) { /* signed out either way */ }
    localStorage.removeItem(TOKEN_KEY);
    location.hash = "";
    route();
  });

  show(
    h("header", { class: "bar" },
      h("h1", {}, me.real_name ? `Hello, ${me.real_name}` : "Hello"),
      h("p", {}, me.phone, h("span", { class: "level", title: "Real-name level" }, me.kyc_level))),
    h("section", { class: "card lift", "aria-labelledby": "balance-title" },
      h("p", { class: "balance-label", id: "balance-title" }, "Balance you can spend"),
      h("p", { class: "balance", id: "balance" }, grouped(balance.available.amount),
        h("small", {}, balance.available.currency)),
      h("p", { class: "facts" },
        balance.incoming.amount !== "0.00" ? h("span", {}, "On its way in ", h("b", {}, money(balance.incoming))) : null,
        balance.outgoing.amount !== "0.00" ? h("span", {}, "Going out ", h("b", {}, money(balance.outgoing))) : null,
        h("span", { id: "remaining" }, "Left to spend today ", h("b", {}, money(me.limits.remaining_today))))),
    h("nav", { class: "actions", "aria-label": "Pay" },
      h("a", { class: "action", href: "#/scan", id: "scan" }, h("span", { class: "glyph", "aria-hidden": "true" }, "⌗"), "Scan")),
    h("section", { class: "card", "aria-labelledby": "recent-title" },
      h("h2", { id: "recent-title" }, "Recent"),
      items.length ? h("ul", { class: "items", id: "statement" }, items)
        : h("p", { class: "empty" }, "Nothing yet: top up from a card to start.")),
    h("div", { class: "footer" }, signOut),
  );
}

// ---- scan and pay --------------------------------------------------------------------------

function backBar(title) {
  return h("header", { class: "bar slim" },
    h("a", { href: "#/home", class: "back", "aria-label": "Back to home" }, "‹"),
    h("h1", {}, title));
}

function scanView() {
  const error = h("p", { class: "error", id: "scan-error", role: "alert" });
  const input = h("input", {
    id: "picture", type: "file", accept: "image/png,image/jpeg", capture: "environment",
    "aria-describedby": "scan-error",
  });
  const drop = h("label", { class: "drop", for: "picture" },
    h("strong", {}, "Take or choose a photo of the QR code"),
    h("span", {}, "or drop a picture or screenshot here"));
  const read = async (file) => {
    if (!file) return;
    error.textContent = "";
    drop.classList.add("busy");
    try {
      const scanned = await api("POST", "/v1/me/scan-image", file);
      confirmView(scanned.payload, scanned.scan);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      drop.classList.remove("busy");
    }
  };
  input.addEventListener("change", () => read(input.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    read(event.dataTransfer.files[0]);
  });
  show(backBar("Scan"),
    h("section", { class: "card" }, input, drop, error,
      h("p", { class: "hint" }, "Shops show a code at the till; a code with an amount is an order, a code without one asks you to type it.")));
}

function confirmView(payload, scan) {
  // One key per payment screen: pressing Pay again (or a retry after a lost answer) can never
  // pay twice.
  const key = crypto.randomUUID();
  const amountError = h("p", { class: "error", id: "amount-error", role: "alert" });
  const pinError = h("p", { class: "error", id: "pin-error", role: "alert" });
  const amount = h("input", {
    id: "amount", inputmode: "decimal", autocomplete: "off", placeholder: "0.00",
    "aria-describedby": "amount-error", autofocus: scan.amount ? false : true,
  });
  const pin = h("input", {
    id: "pin", type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "6",
    "aria-describedby": "pin-error",
  });
  const pinStep = h("div", { hidden: scan.pin_required !== true },
    h("label", { for: "pin" }, "Payment PIN"), pin, pinError);
  const pay = h("button", { class: "primary", type: "submit", id: "pay" }, "Pay");
  const form = h("form", { novalidate: true },
    scan.amount
      ? h("p", { class: "balance", id: "pay-amount" }, grouped(scan.amount.amount), h("small", {}, scan.amount.currency))
      : [h("label", { for: "amount" }, "Amount (CNY)"), amount, amountError],
    pinStep, pay);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    amountError.textContent = "";
    pinError.textContent = "";
    const body = { payload };
    if (!scan.amount) body.amount = amount.value.trim();
    if (!pinStep.hidden) body.pin = pin.value;
    pay.disabled = true;
    try {
      const payment = await api("POST", "/v1/me/payments", body, { "idempotency-key": key });
      receiptView(payment);
    } catch (failure) {
      if (failure.code === "pin_required") {
        pinStep.hidden = false;
        pinError.textContent = "Above the password-free limit: enter your payment PIN.";
        pin.focus();
      } else if (failure.code.startsWith("pin")) {
        pinError.textContent = failure.message;
        pin.focus();
      } else {
        amountError.textContent = failure.message;
        (scan.amount ? pay : amount).focus();
      }
    } finally {
      pay.disabled = false;
    }
  });
  show(backBar("Pay"),
    h("section", { class: "card", "aria-labelledby": "merchant-name" },
      h("p", { class: "balance-label" }, scan.kind === "dynamic" ? "Order from" : "Pay"),
      h("h2", { id: "merchant-name" }, scan.chinese_name ? `${scan.merchant_name} · ${scan.chinese_name}` : scan.merchant_name),
      h("p", { class: "hint" }, scan.subject || scan.city),
      form));
}

function receiptView(payment) {
  const paid = payment.status === "SUCCESS";
  show(backBar("Receipt"),
    h("section", { class: "card receipt", "aria-labelledby": "receipt-title" },
      h("p", { class: `tick${paid ? "" : " wait"}`, "aria-hidden": "true" }, paid ? "✓" : "…"),
      h("h2", { id: "receipt-title" }, paid ? "Paid" : "Waiting for confirmation"),
      h("p", { class: "balance", id: "receipt-amount" }, grouped(payment.amount.amount), h("small", {}, payment.amount.currency)),
      h("dl", {},
        h("dt", {}, "To"), h("dd", {}, payment.merchant_name),
        payment.subject !== payment.merchant_name ? [h("dt", {}, "For"), h("dd", {}, payment.subject)] : null,
        h("dt", {}, "When"), h("dd", {}, when(payment.paid_at || payment.created_at)),
        h("dt", {}, "Payment"), h("dd", { class: "mono" }, payment.payment_id)),
      h("a", { class: "primary button", href: "#/home" }, "Done")));
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  if (!localStorage.getItem(TOKEN_KEY)) {
    signInView();
    return;
  }
  if (location.hash === "#/scan") scanView();
  else homeView();
}

window.addEventListener("hashchange", route);
route();
