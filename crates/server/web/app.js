// Cashless wallet in the browser: a small single-page app over the public JSON API.
// No framework and no build step; the server embeds this file. Every text from the server
// goes in through textContent, never as HTML.
"use strict";

const TOKEN_KEY = "cashless.session";
const PAYCODE_KEY = "cashless.paycode";
const TRANSIT_KEY = "cashless.transit";
let paycodeTimer = null;

/** A line icon (24 × 24 paths), drawn in the current colour. */
function icon(path) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "glyph");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
  line.setAttribute("d", path);
  svg.append(line);
  return svg;
}

const ICONS = {
  scan: "M4 9V5a1 1 0 0 1 1-1h4M15 4h4a1 1 0 0 1 1 1v4M20 15v4a1 1 0 0 1-1 1h-4M9 20H5a1 1 0 0 1-1-1v-4M4 12h16",
  plus: "M12 5v14M5 12h14",
  code: "M4 6v12M7 6v12M10 6v12M14 6v12M16 6v12M20 6v12",
  out: "M12 19V5M6 11l6-6 6 6M5 21h14",
  transit: "M7 17h10a2 2 0 0 0 2-2V6a3 3 0 0 0-3-3H8a3 3 0 0 0-3 3v9a2 2 0 0 0 2 2zM5 11h14M8 21l2-4M16 21l-2-4M8.5 14h.01M15.5 14h.01",
  bills: "M6 3h12v18l-3-2-3 2-3-2-3 2zM9 8h6M9 12h6",
  orders: "M5 7h14l-1 13H6zM9 7V5a3 3 0 0 1 6 0v2",
  messages: "M4 5h16v11H9l-5 4z",
};

/** Signing out (or a dead session) forgets everything this browser held for the account,
 * the payment-code secret first: whoever uses the browser next must not make codes. */
function forgetSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(PAYCODE_KEY);
  localStorage.removeItem(TRANSIT_KEY);
  DeviceKey.forget();
  if (paycodeTimer) clearInterval(paycodeTimer);
  paycodeTimer = null;
}

async function api(method, path, body, extraHeaders) {
  const raw = body instanceof Blob;
  const headers = { "content-type": raw ? body.type || "application/octet-stream" : "application/json", ...extraHeaders };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await reach(path, {
    method,
    headers,
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  if (response.status === 401 && token) {
    forgetSession();
    route();
  }
  return answerOf(response);
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
  transit: "Transit",
  transit_refund: "Fare adjustment",
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
      // The device's own Ed25519 key: its private half never leaves this browser (it cannot
      // be exported); the platform binds the public half into transit passes.
      const key = await DeviceKey.make();
      const device = { name: browserName() };
      if (key) device.public_key = key.publicKey;
      const signedIn = await api("POST", "/v1/auth/sign-in", { phone: phone.value, code: code.value, device });
      if (key) await DeviceKey.keep(key.privateKey);
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

/** One statement line; payments and refunds open their receipt. */
function statementLine(item) {
  const incoming = !item.amount.amount.startsWith("-");
  const paymentId = item.kind === "payment" ? item.id : item.details && item.details.order_id;
  // A foreign card's top-up also says what the card paid, in its own currency.
  const card = item.details && item.details.card_amount;
  const foreign = card && card.currency !== item.amount.currency ? ` · ${money(card)}` : "";
  const what = h("div", { class: "item-what" },
    h("strong", {}, item.counterparty || KIND_NAMES[item.kind] || item.kind),
    h("span", {}, `${KIND_NAMES[item.kind] || item.kind}${foreign} · ${when(item.created_at)}`));
  const amount = h("div", {},
    h("span", { class: `amount${incoming ? " in" : ""}` }, `${incoming ? "+" : ""}${money(item.amount)}`),
    item.status === "succeeded" ? null : h("span", { class: "status" }, item.status));
  return h("li", {}, paymentId && (item.kind === "payment" || item.kind === "refund")
    ? h("a", { class: "line", href: `#/payment/${encodeURIComponent(paymentId)}` }, what, amount)
    : [what, amount]);
}

async function homeView() {
  show(h("p", { class: "hint pad" }, "Loading…"));
  let me;
  let statement;
  let cards;
  try {
    [me, statement, cards] = await Promise.all([
      api("GET", "/v1/me"),
      api("GET", "/v1/me/statement?limit=10"),
      api("GET", "/v1/me/cards"),
    ]);
  } catch (error) {
    if (!localStorage.getItem(TOKEN_KEY)) return;
    show(h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, error.message),
      h("button", { class: "primary", onclick: route }, "Try again")));
    return;
  }
  const balance = me.balance;
  const items = statement.items.map(statementLine);

  const signOut = h("button", { class: "link", type: "button", id: "sign-out" }, "Sign out");
  signOut.addEventListener("click", async () => {
    try { await api("POST", "/v1/auth/sign-out"); } catch (_) { /* signed out either way */ }
    forgetSession();
    location.hash = "";
    route();
  });

  show(
    h("header", { class: "bar" },
      h("h1", {}, me.real_name ? `Hello, ${me.real_name}` : "Hello"),
      h("p", {}, me.phone, h("span", { class: "level", title: "Real-name level" }, h("span", { class: "sr-only" }, "real-name level "), me.kyc_level))),
    h("section", { class: "card lift", "aria-labelledby": "balance-title" },
      h("p", { class: "balance-label", id: "balance-title" }, "Balance you can spend"),
      h("p", { class: "balance", id: "balance" }, grouped(balance.available.amount),
        " ", h("small", {}, balance.available.currency)),
      h("p", { class: "facts" },
        balance.incoming.amount !== "0.00" ? h("span", {}, "On its way in ", h("b", {}, money(balance.incoming))) : null,
        balance.outgoing.amount !== "0.00" ? h("span", {}, "Going out ", h("b", {}, money(balance.outgoing))) : null,
        h("span", { id: "remaining" }, "Left to spend today ", h("b", {}, money(me.limits.remaining_today))))),
    nextSteps(me, cards.cards),
    h("nav", { class: "actions", "aria-label": "Pay and top up" },
      h("a", { class: "action", href: "#/scan", id: "scan" }, icon(ICONS.scan), "Scan"),
      h("a", { class: "action", href: "#/pay", id: "pay-code" }, icon(ICONS.code), "Pay"),
      cards.cards.length
        ? h("a", { class: "action", href: "#/topup", id: "top-up" }, icon(ICONS.plus), "Top up")
        : null,
      cards.cards.length
        ? h("a", { class: "action", href: "#/withdraw", id: "withdraw" }, icon(ICONS.out), "Withdraw")
        : null),
    services(),
    h("section", { class: "card", "aria-labelledby": "recent-title" },
      h("div", { class: "title-row" }, h("h2", { id: "recent-title" }, "Recent"),
        items.length ? h("a", { href: "#/statement", id: "see-all" }, "See all") : null),
      items.length ? h("ul", { class: "items", id: "statement" }, items)
        : h("p", { class: "empty" }, "Nothing yet: top up from a card to start.")),
    h("div", { class: "footer" }, signOut),
  );
}

/** The city's services: what works today opens, what is still being built says so. */
function services() {
  const tile = (id, glyph, name, href) => href
    ? h("li", {}, h("a", { class: "tile", href, id }, icon(glyph), name))
    : h("li", {}, h("span", { class: "tile soon", id, "aria-disabled": "true" }, icon(glyph), name,
      h("small", {}, "Not in this city yet")));
  return h("section", { class: "card", "aria-labelledby": "services-title" },
    h("h2", { id: "services-title" }, "City services"),
    h("ul", { class: "tiles" },
      tile("orders", ICONS.orders, "Orders", "#/orders"),
      tile("transit", ICONS.transit, "Transit", "#/transit"),
      tile("bills", ICONS.bills, "Bills & city services"),
      tile("messages", ICONS.messages, "Messages")));
}

// ---- getting set up: real name, PIN, card, top-up -----------------------------------------

/** What the account still needs before it can pay, as links; nothing once it is ready. */
function nextSteps(me, cards) {
  const steps = [];
  if (me.kyc_level === "L0") steps.push(["#/verify", "Verify your real name", "With your ID card or passport: needed to pay."]);
  if (!me.pin_set) steps.push(["#/pin", "Set your payment PIN", "Six digits you type for larger payments."]);
  if (!cards.length) steps.push(["#/card", "Link a bank card", "To top up your balance."]);
  if (!steps.length) return null;
  return h("section", { class: "card", "aria-labelledby": "steps-title" },
    h("h2", { id: "steps-title" }, "Get ready to pay"),
    h("ul", { class: "steps" }, steps.map(([href, title, why]) =>
      h("li", {}, h("a", { href }, h("strong", {}, title), h("span", {}, why))))));
}

/** A labelled input with its error line; `input.error` is that line. */
function field(id, label, attributes) {
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert" });
  const input = h("input", { id, name: id, "aria-describedby": `${id}-error`, ...attributes });
  input.error = error;
  return { input, nodes: [h("label", { for: id }, label), input, error] };
}

/** Shows a refusal next to `input` (or the form's own line). */
function refuse(input, failure) {
  input.setAttribute("aria-invalid", "true");
  input.error.textContent = failure.message;
  input.focus();
}

function clearErrors(form) {
  form.querySelectorAll(".error").forEach((line) => { line.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
}

function verifyView() {
  const kind = h("select", { id: "id-kind", name: "kind" },
    h("option", { value: "resident_id" }, "Chinese resident ID card"),
    h("option", { value: "passport" }, "Passport (visitors)"));
  const name = field("real-name", "Name as on the document", { autocomplete: "name", autofocus: true });
  const number = field("id-number", "Document number", { autocomplete: "off" });
  const country = field("country", "Issuing country (3 letters, e.g. GBR)", { maxlength: "3" });
  const nationality = field("nationality", "Nationality (3 letters)", { maxlength: "3" });
  const born = field("born", "Date of birth", { type: "date" });
  const passportOnly = h("div", { hidden: true }, country.nodes, nationality.nodes, born.nodes);
  kind.addEventListener("change", () => { passportOnly.hidden = kind.value !== "passport"; });
  const form = h("form", { novalidate: true },
    h("label", { for: "id-kind" }, "Document"), kind, name.nodes, number.nodes, passportOnly,
    h("button", { class: "primary", type: "submit" }, "Verify"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = kind.value === "passport"
      ? { kind: "passport", name: name.input.value, number: number.input.value, country: country.input.value.toUpperCase(),
          nationality: nationality.input.value.toUpperCase(), date_of_birth: born.input.value }
      : { kind: "resident_id", name: name.input.value, number: number.input.value };
    try {
      await api("POST", "/v1/me/identity", body);
      location.hash = "#/home";
    } catch (failure) {
      refuse(failure.code.includes("name") ? name.input : number.input, failure);
    }
  });
  show(backBar("Real name"), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, "Payments in China need a verified real name. We keep only a masked copy of the number.")));
}

function pinView() {
  const pin = field("new-pin", "New payment PIN (6 digits)", { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "new-password", autofocus: true });
  const again = field("pin-again", "The same PIN again", { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "new-password" });
  const form = h("form", { novalidate: true }, pin.nodes, again.nodes,
    h("button", { class: "primary", type: "submit" }, "Set PIN"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (pin.input.value !== again.input.value) {
      refuse(again.input, { message: "The two PINs differ." });
      return;
    }
    try {
      await api("POST", "/v1/me/pin", { pin: pin.input.value });
      location.hash = "#/home";
    } catch (failure) {
      refuse(pin.input, failure);
    }
  });
  show(backBar("Payment PIN"), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, "Not your birthday, not 123456: simple PINs are refused.")));
}

function cardView() {
  const number = field("card-number", "Card number", { inputmode: "numeric", autocomplete: "cc-number", autofocus: true });
  const holder = field("holder", "Name on the card", { autocomplete: "cc-name" });
  const otp = field("otp", "Code from your bank's text message", { inputmode: "numeric", maxlength: "6", autocomplete: "one-time-code" });
  const demo = h("div", { class: "demo", hidden: true });
  const confirmStep = h("div", { hidden: true }, otp.nodes, demo,
    h("button", { class: "primary", type: "submit", id: "confirm-card" }, "Link card"));
  const start = h("button", { class: "primary", type: "button", id: "start-card" }, "Send me the code");
  let binding = null;
  start.addEventListener("click", async () => {
    clearErrors(form);
    try {
      binding = await api("POST", "/v1/me/cards", { number: number.input.value, holder_name: holder.input.value });
      confirmStep.hidden = false;
      if (binding.demo_code) {
        demo.hidden = false;
        demo.replaceChildren("Demo: the bank texted ", h("code", {}, binding.demo_code));
      }
      otp.input.focus();
    } catch (failure) {
      refuse(failure.code.includes("name") ? holder.input : number.input, failure);
    }
  });
  const form = h("form", { novalidate: true }, number.nodes, holder.nodes, start, confirmStep);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!binding) return;
    try {
      await api("POST", `/v1/me/cards/bindings/${encodeURIComponent(binding.binding_id)}/confirm`, { otp: otp.input.value });
      location.hash = "#/topup";
    } catch (failure) {
      refuse(otp.input, failure);
    }
  });
  show(backBar("Link a card"), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, "Debit cards of Chinese banks, and Visa or Mastercard from abroad. Your bank texts a code to confirm.")));
}

async function topUpView() {
  const { cards } = await api("GET", "/v1/me/cards");
  const card = h("select", { id: "top-up-card", name: "card" },
    cards.map((c) => h("option", { value: c.id, "data-foreign": c.foreign_currency_top_up ? "1" : "" }, c.display)));
  const amount = field("top-up-amount", "Amount", { inputmode: "decimal", placeholder: "100.00", autofocus: true });
  const currency = h("select", { id: "top-up-currency", name: "currency" },
    ["CNY", "USD", "EUR", "GBP", "JPY", "HKD"].map((code) => h("option", { value: code }, code)));
  const currencyRow = h("div", { hidden: true }, h("label", { for: "top-up-currency" }, "Currency of the card"), currency);
  const foreign = () => { currencyRow.hidden = !card.selectedOptions[0]?.dataset.foreign; if (currencyRow.hidden) currency.value = "CNY"; };
  card.addEventListener("change", foreign);
  foreign();
  const status = h("p", { class: "hint", id: "top-up-status", role: "status" });
  const submit = h("button", { class: "primary", type: "submit" }, "Top up");
  const key = crypto.randomUUID();
  const form = h("form", { novalidate: true }, h("label", { for: "top-up-card" }, "From"), card, amount.nodes, currencyRow, submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      let movement = await api("POST", "/v1/me/topups", { card_id: card.value, amount: amount.input.value.trim(), currency: currency.value }, { "idempotency-key": key });
      status.textContent = "Waiting for the bank…";
      for (let i = 0; i < 60 && movement.status === "processing"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        movement = await api("GET", `/v1/me/topups/${encodeURIComponent(movement.id)}`);
      }
      if (movement.status === "succeeded") {
        location.hash = "#/home";
      } else if (movement.status === "failed") {
        refuse(amount.input, { message: `The bank refused: ${movement.failure_reason || "no reason given"}.` });
      } else {
        status.textContent = "The bank is still confirming; the money shows as on its way in meanwhile.";
      }
    } catch (failure) {
      refuse(amount.input, failure);
    } finally {
      submit.disabled = false;
    }
  });
  show(backBar("Top up"), h("section", { class: "card" }, form));
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
  const video = h("video", { id: "camera", class: "camera", hidden: true, muted: true, playsinline: true,
    "aria-label": "Camera: point it at the QR code" });
  const note = h("p", { class: "hint", id: "camera-note", role: "status" });
  show(backBar("Scan"),
    h("section", { class: "card" }, video, note, input, drop, error,
      h("p", { class: "hint" }, "Shops show a code at the till; a code with an amount is an order, a code without one asks you to type it.")));
  let refused = "";
  watchCamera(video, note, async (found) => {
    try {
      if (found.text !== undefined) {
        if (found.text === refused) return false;
        const scan = await api("POST", "/v1/me/scan", { payload: found.text });
        confirmView(found.text, scan);
      } else {
        const scanned = await api("POST", "/v1/me/scan-image?live=true", found.still);
        confirmView(scanned.payload, scanned.scan);
      }
      return true;
    } catch (failure) {
      // A code the platform refused is not sent again; after a network failure it is.
      if (found.text !== undefined && failure.status >= 400 && failure.status < 500) refused = found.text;
      if (!STILL_LOOKING.has(failure.code)) error.textContent = failure.message;
      return false;
    }
  });
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
      ? h("p", { class: "balance", id: "pay-amount" }, grouped(scan.amount.amount), " ", h("small", {}, scan.amount.currency))
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
  const refunded = payment.refunded && payment.refunded.amount !== "0.00";
  const [title, done] = {
    SUCCESS: [refunded ? "Paid, partly refunded" : "Paid", true],
    FINISHED: ["Paid", true],
    USERPAYING: ["Waiting for your PIN", false],
    WAIT_BUYER_PAY: ["Waiting for payment", false],
    CLOSED: [refunded ? "Refunded" : "Closed", true],
  }[payment.status] || [payment.status, false];
  const paid = done;
  show(backBar("Receipt"),
    h("section", { class: "card receipt", "aria-labelledby": "receipt-title" },
      h("p", { class: `tick${paid ? "" : " wait"}`, "aria-hidden": "true" }, paid ? "✓" : "…"),
      h("h2", { id: "receipt-title" }, title),
      h("p", { class: "balance", id: "receipt-amount" }, grouped(payment.amount.amount), " ", h("small", {}, payment.amount.currency)),
      h("dl", {},
        h("dt", {}, "To"), h("dd", {}, payment.merchant_name),
        payment.subject !== payment.merchant_name ? [h("dt", {}, "For"), h("dd", {}, payment.subject)] : null,
        h("dt", {}, "When"), h("dd", {}, when(payment.paid_at || payment.created_at)),
        refunded ? [h("dt", {}, "Refunded"), h("dd", {}, money(payment.refunded))] : null,
        h("dt", {}, "Payment"), h("dd", { class: "mono" }, payment.payment_id)),
      h("a", { class: "primary button", href: "#/home" }, "Done")));
}

// ---- pay: the payment code the cashier scans ------------------------------------------------

/** The 18 digits for this device now: 28, slot (8), variant (1), one-time value (7). */
async function paycodeDigits(enrolment, variant, unixSeconds) {
  const step = Math.floor(unixSeconds / enrolment.step_secs);
  const key = await crypto.subtle.importKey("raw", hexBytes(enrolment.secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const message = new TextEncoder().encode(`cashless-paycode|${enrolment.slot}|${step}|${variant}`);
  const digest = new DataView(await crypto.subtle.sign("HMAC", key, message));
  const otp = digest.getBigUint64(0) % 10000000n;
  return `28${String(enrolment.slot).padStart(8, "0")}${variant}${String(otp).padStart(7, "0")}`;
}

/** This device's payment-code enrolment: made once, then the codes need no network. */
async function enrolment() {
  // Tied to this session by a fingerprint of its token (never the token itself).
  const token = localStorage.getItem(TOKEN_KEY) || "";
  const session = hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  const stored = JSON.parse(localStorage.getItem(PAYCODE_KEY) || "null");
  if (stored && stored.session === session) return stored;
  const fresh = await api("POST", "/v1/me/paycode", {});
  const saved = { ...fresh, session, variant: 0 };
  localStorage.setItem(PAYCODE_KEY, JSON.stringify(saved));
  return saved;
}

async function payView() {
  if (!window.crypto || !crypto.subtle) {
    throw new ApiError(0, "insecure", "Payment codes need a secure page: open Cashless over https (or on this computer).");
  }
  const device = await enrolment();
  const strip = h("div", { class: "barcode", id: "barcode" });
  const figure = h("div", { class: "paycode", id: "paycode" });
  const digits = h("p", { class: "digits", id: "paycode-digits", "aria-live": "off" });
  const status = h("p", { class: "hint", role: "status", id: "paycode-status" }, "Show this to the cashier. It changes every minute and works once.");
  const prompt = h("div", { id: "confirm-area" });
  show(backBar("Pay"),
    h("section", { class: "card center", "aria-labelledby": "pay-title" },
      h("h2", { id: "pay-title" }, "Payment code"), strip, digits, figure, status),
    prompt);

  let shown = "";
  const draw = async () => {
    const code = await paycodeDigits(device, device.variant, Math.floor(Date.now() / 1000));
    if (code === shown) return;
    shown = code;
    figure.replaceChildren(QR.svg(code, "Payment code"));
    strip.replaceChildren(Barcode.svg(code, "Payment code barcode"));
    digits.textContent = code.replace(/^(\d{4})(\d{4})(\d{4})(\d{4})(\d{2})$/, "$1 $2 $3 $4 $5");
    digits.dataset.code = code;
  };
  await draw();

  // The cashier's side happens elsewhere: watch for the payment, or for a PIN it waits for.
  const latest = await api("GET", "/v1/me/statement?limit=1");
  const seen = latest.items[0] ? latest.items[0].id : null;
  let confirming = null;
  const watch = async () => {
    if (location.hash !== "#/pay") {
      clearInterval(paycodeTimer);
      paycodeTimer = null;
      return;
    }
    await draw();
    try {
      const pending = await api("GET", "/v1/me/payments/pending");
      const waiting = pending.payments[0];
      if (waiting && confirming !== waiting.payment_id) {
        confirming = waiting.payment_id;
        prompt.replaceChildren(confirmPrompt(waiting));
      }
      const newest = (await api("GET", "/v1/me/statement?limit=1")).items[0];
      if (newest && newest.id !== seen && newest.kind === "payment") {
        clearInterval(paycodeTimer);
        paycodeTimer = null;
        // That code is spent: the next one uses the next variant.
        device.variant = (device.variant + 1) % 10;
        localStorage.setItem(PAYCODE_KEY, JSON.stringify(device));
        receiptView(await api("GET", `/v1/me/payments/${encodeURIComponent(newest.id)}`));
      }
    } catch (failure) {
      status.textContent = failure.message;
    }
  };
  if (paycodeTimer) clearInterval(paycodeTimer);
  paycodeTimer = setInterval(watch, 1500);
}

/** A charge above the password-free limit waits for the payer's PIN. */
function confirmPrompt(payment) {
  const pin = field("confirm-pin", "Payment PIN", { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "off", autofocus: true });
  const form = h("form", { novalidate: true, class: "card", "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, `Confirm ${money(payment.amount)} to ${payment.merchant_name}`),
    h("p", { class: "hint" }, "Above the password-free limit: the cashier waits for your PIN."),
    pin.nodes,
    h("button", { class: "primary", type: "submit" }, "Confirm payment"),
    h("button", { class: "link", type: "button", onclick: async () => {
      try {
        await api("POST", `/v1/me/payments/${encodeURIComponent(payment.payment_id)}/decline`);
        form.replaceChildren(h("p", { class: "hint" }, "Declined: the cashier sees the payment closed."));
      } catch (failure) {
        refuse(pin.input, failure);
      }
    } }, "Decline"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await api("POST", `/v1/me/payments/${encodeURIComponent(payment.payment_id)}/confirm`, { pin: pin.input.value });
      form.replaceChildren(h("p", { class: "hint" }, "Confirmed."));
    } catch (failure) {
      refuse(pin.input, failure);
    }
  });
  setTimeout(() => pin.input.focus(), 0);
  return form;
}

// ---- statement, receipts, withdraw ----------------------------------------------------------

/** The statement, from the start filtered to `first` ("" for everything). */
function statementView(first = "", title = "Statement") {
  const kinds = [["", "All"], ["payment", "Payments"], ["refund", "Refunds"], ["top_up", "Top-ups"], ["withdrawal", "Withdrawals"]];
  const list = h("ul", { class: "items", id: "statement-all" });
  const error = h("p", { class: "error", role: "alert" });
  const more = h("button", { class: "link", type: "button", hidden: true }, "Older");
  let kind = first;
  let cursor = null;
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Show" });
  const load = async (fresh) => {
    error.textContent = "";
    if (fresh) { list.replaceChildren(); cursor = null; }
    const params = new URLSearchParams({ limit: "20" });
    if (kind) params.set("kind", kind);
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api("GET", `/v1/me/statement?${params}`);
      list.append(...page.items.map(statementLine));
      if (!list.children.length) list.append(h("li", { class: "empty" }, "Nothing here yet."));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  for (const [value, label] of kinds) {
    const chip = h("button", { type: "button", class: "chip", "aria-pressed": value === kind ? "true" : "false" }, label);
    chip.addEventListener("click", () => {
      kind = value;
      chips.querySelectorAll(".chip").forEach((other) => other.setAttribute("aria-pressed", "false"));
      chip.setAttribute("aria-pressed", "true");
      load(true);
    });
    chips.append(chip);
  }
  more.addEventListener("click", () => load(false));
  show(backBar(title), h("section", { class: "card" }, chips, error, list, more));
  load(true);
}

async function paymentView(id) {
  const payment = await api("GET", `/v1/me/payments/${encodeURIComponent(id)}`);
  receiptView(payment);
}

async function withdrawView() {
  const { cards } = await api("GET", "/v1/me/cards");
  const card = h("select", { id: "withdraw-card" }, cards.map((c) => h("option", { value: c.id }, c.display)));
  const amount = field("withdraw-amount", "Amount (CNY)", { inputmode: "decimal", placeholder: "50.00", autofocus: true });
  const pin = field("withdraw-pin", "Payment PIN", { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "off" });
  const status = h("p", { class: "hint", role: "status", id: "withdraw-status" });
  const submit = h("button", { class: "primary", type: "submit" }, "Withdraw");
  const key = crypto.randomUUID();
  const form = h("form", { novalidate: true }, h("label", { for: "withdraw-card" }, "To"), card, amount.nodes, pin.nodes, submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      let movement = await api("POST", "/v1/me/withdrawals",
        { card_id: card.value, amount: amount.input.value.trim(), pin: pin.input.value }, { "idempotency-key": key });
      status.textContent = "On its way to your card…";
      for (let i = 0; i < 60 && movement.status === "processing"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        movement = await api("GET", `/v1/me/withdrawals/${encodeURIComponent(movement.id)}`);
      }
      if (movement.status === "failed") {
        refuse(amount.input, { message: `The bank refused: ${movement.failure_reason || "no reason given"}; the money is back in your balance.` });
      } else {
        location.hash = "#/home";
      }
    } catch (failure) {
      refuse(failure.code.startsWith("pin") ? pin.input : amount.input, failure);
    } finally {
      submit.disabled = false;
    }
  });
  show(backBar("Withdraw"), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, "Withdrawals count against today's limit and reach the card when the bank confirms.")));
}

// ---- transit: the ride code the gate scans --------------------------------------------------

/** The device key, kept in IndexedDB as a non-extractable CryptoKey. */
const DeviceKey = (() => {
  const open = () => new Promise((resolve, reject) => {
    const request = indexedDB.open("cashless", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("keys");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const run = async (mode, work) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const request = work(db.transaction("keys", mode).objectStore("keys"));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  };
  return {
    /** A fresh key pair, or null where the browser has no Ed25519. */
    async make() {
      try {
        const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
        const publicKey = hex(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
        return { publicKey, privateKey: pair.privateKey };
      } catch (_) {
        return null;
      }
    },
    keep: (key) => run("readwrite", (store) => store.put(key, "device")).catch(() => null),
    get: () => run("readonly", (store) => store.get("device")).catch(() => null),
    forget: () => run("readwrite", (store) => store.delete("device")).catch(() => null),
  };
})();

/** Base45 (RFC 9285): bytes as QR alphanumeric characters. */
function base45(bytes) {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  let out = "";
  for (let i = 0; i < bytes.length; i += 2) {
    if (i + 1 < bytes.length) {
      let n = bytes[i] * 256 + bytes[i + 1];
      out += alphabet[n % 45] + alphabet[Math.floor(n / 45) % 45] + alphabet[Math.floor(n / 2025)];
    } else {
      out += alphabet[bytes[i] % 45] + alphabet[Math.floor(bytes[i] / 45)];
    }
  }
  return out;
}

/** A ride code for `madeAt`: the certificate, the time, and this device's signature. */
async function rideCode(certificateHex, key, madeAt) {
  const certificate = hexBytes(certificateHex);
  const signed = new Uint8Array(certificate.length + 4);
  signed.set(certificate);
  new DataView(signed.buffer).setUint32(certificate.length, madeAt);
  const domain = new TextEncoder().encode("cashless-transit-code-v1");
  const message = new Uint8Array(domain.length + signed.length);
  message.set(domain);
  message.set(signed, domain.length);
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", key, message));
  const code = new Uint8Array(signed.length + 64);
  code.set(signed);
  code.set(signature, signed.length);
  return `CT1:${base45(code)}`;
}

/** This phone's pass for `operator`: renewed online when it is missing or ends within the
 * hour, otherwise the one kept here, so codes keep coming with the network off. */
async function transitPass(operator) {
  const kept = JSON.parse(localStorage.getItem(TRANSIT_KEY) || "{}");
  const pass = kept[operator];
  const fresh = pass && Date.parse(pass.valid_until) - Date.now() > 3600 * 1000;
  if (fresh) return pass;
  try {
    const renewed = await api("POST", "/v1/me/transit/pass", { operator: Number(operator) });
    kept[operator] = renewed;
    localStorage.setItem(TRANSIT_KEY, JSON.stringify(kept));
    return renewed;
  } catch (error) {
    if (pass && Date.parse(pass.valid_until) > Date.now()) return pass;
    throw error;
  }
}

let transitTimer = null;

async function transitView() {
  if (!window.crypto || !crypto.subtle) {
    throw new ApiError(0, "insecure", "Ride codes need a secure page: open Cashless over https (or on this computer).");
  }
  const key = await DeviceKey.get();
  const operator = localStorage.getItem(`${TRANSIT_KEY}.operator`) || "1";
  const choose = (value, name) => h("button", {
    type: "button", class: value === operator ? "chip on" : "chip", "aria-pressed": String(value === operator),
    id: `transit-operator-${value}`,
    onclick: () => { localStorage.setItem(`${TRANSIT_KEY}.operator`, value); transitView().catch(() => null); },
  }, name);
  const figure = h("div", { class: "paycode", id: "ride-code" });
  const status = h("p", { class: "hint", role: "status", id: "ride-status" });
  const ridesList = h("div", { id: "journeys" });
  show(backBar("Transit"),
    h("section", { class: "card center", "aria-labelledby": "transit-title" },
      h("h2", { id: "transit-title" }, "Ride code"),
      h("div", { class: "chips", role: "group", "aria-label": "Operator" }, choose("1", "Metro"), choose("2", "Bus")),
      figure, status),
    ridesList);
  if (!key) {
    status.textContent = "This phone has no key for ride codes: sign out and sign in again.";
    return;
  }
  let pass;
  try {
    pass = await transitPass(operator);
  } catch (error) {
    if (error.code === "kyc_required") {
      status.replaceChildren(error.message, " ", h("a", { href: "#/verify" }, "Verify now"));
    } else {
      status.textContent = error.message;
    }
    return;
  }
  const draw = async () => {
    const now = Math.floor(Date.now() / 1000);
    const code = await rideCode(pass.certificate, key, now);
    figure.replaceChildren(QR.svg(code, `${pass.operator_name} ride code`));
    figure.dataset.code = code;
    status.textContent = `Scan at the ${operator === "1" ? "gate" : "reader"}. A new code every 30 seconds, made on this phone: it works offline. Pass valid until ${when(pass.valid_until)}.`;
  };
  await draw();
  if (transitTimer) clearInterval(transitTimer);
  transitTimer = setInterval(() => {
    if (location.hash !== "#/transit") return;
    draw().catch(() => null);
  }, 30000);
  showJourneys(ridesList).catch((error) => { ridesList.replaceChildren(h("p", { class: "error" }, error.message)); });
}

/** The rider's journeys, and what is owed with a way to pay it. */
async function showJourneys(into) {
  const rides = await api("GET", "/v1/me/transit/journeys");
  const owed = rides.owed.amount !== "0.00";
  const message = h("p", { role: "status", id: "owed-status" });
  const pay = h("button", { class: "primary", type: "button", id: "pay-fares" }, `Pay ${money(rides.owed)} owed`);
  pay.addEventListener("click", async () => {
    pay.disabled = true;
    try {
      await api("POST", "/v1/me/transit/debts/pay", {});
      await showJourneys(into);
    } catch (error) {
      message.textContent = error.message;
      pay.disabled = false;
    }
  });
  const line = (journey) => {
    const route = journey.kind === "flat"
      ? `${journey.operator_name} · line ${journey.line}`
      : `${journey.from ? journey.from.name : "No entry"} → ${journey.to ? journey.to.name : "no exit"}`;
    return h("li", {},
      h("div", { class: "item-what" }, h("strong", {}, route),
        h("span", {}, `${journey.operator_name} · ${when(journey.started_at)}${journey.distance_m ? ` · ${(journey.distance_m / 1000).toFixed(1)} km` : ""}`)),
      h("div", {}, h("span", { class: "amount" }, `-${money(journey.fare)}`),
        journey.status === "paid" ? null : h("span", { class: "status" }, "owed")));
  };
  into.replaceChildren(h("section", { class: "card", "aria-labelledby": "journeys-title" },
    h("h2", { id: "journeys-title" }, "Journeys"),
    owed ? h("div", { class: "owed", id: "owed" },
      h("p", {}, `You owe ${money(rides.owed)}: gates refuse your code until it is paid.`), pay, message) : null,
    rides.journeys.length ? h("ul", { class: "items", id: "journey-list" }, rides.journeys.map(line))
      : h("p", { class: "empty" }, "No journeys yet: show the code at a gate.")));
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  if (paycodeTimer && location.hash !== "#/pay") {
    clearInterval(paycodeTimer);
    paycodeTimer = null;
  }
  if (transitTimer && location.hash !== "#/transit") {
    clearInterval(transitTimer);
    transitTimer = null;
  }
  if (!localStorage.getItem(TOKEN_KEY)) {
    signInView();
    return;
  }
  if (location.hash.startsWith("#/payment/")) {
    paymentView(decodeURIComponent(location.hash.slice("#/payment/".length))).catch((failure) => {
      show(backBar("Receipt"), h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, failure.message)));
    });
    return;
  }
  const views = { "#/statement": () => statementView(), "#/orders": () => statementView("payment", "Orders"), "#/withdraw": withdrawView, "#/pay": payView, "#/scan": scanView, "#/verify": verifyView, "#/pin": pinView, "#/card": cardView, "#/topup": topUpView, "#/transit": transitView };
  Promise.resolve((views[location.hash] || homeView)()).catch((failure) => {
    show(backBar("Cashless"), h("section", { class: "card" },
      h("p", { class: "error", role: "alert" }, failure.message),
      h("a", { class: "primary button", href: "#/home" }, "Back to home")));
  });
}

window.addEventListener("hashchange", route);
route();
