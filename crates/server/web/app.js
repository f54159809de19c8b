// Cashless wallet in the browser: a small single-page app over the public JSON API.
// No framework and no build step; the server embeds this file. Every text from the server
// goes in through textContent, never as HTML; every word of our own comes from the language
// tables (t(), i18n.js).
"use strict";

const TOKEN_KEY = "cashless.session";
const PAYCODE_KEY = "cashless.paycode";
const TRANSIT_KEY = "cashless.transit";
/** A payment waiting for a top-up (its scanned code and typed amount), in this tab only. */
const RESUME_KEY = "cashless.resume";
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
  sessionStorage.removeItem(RESUME_KEY);
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

const when = I18n.dateTime;

/** A statement line's kind in words. */
const kindName = (kind) => (I18n.has(`kind.${kind}`) ? t(`kind.${kind}`) : kind);

/** Where a refusal can be put right: a link next to its message. */
const REMEDIES = {
  pin_locked: ["#/pin/reset", "pin.reset_now"],
  pin_not_set: ["#/pin", "steps.pin"],
  real_name_required: ["#/verify", "verify.now"],
  kyc_required: ["#/verify", "verify.now"],
  insufficient_balance: ["#/topup", "home.top_up"],
};

/** A refusal's words, with the link that puts it right when there is one. */
function refusalNodes(failure) {
  const remedy = REMEDIES[failure.code];
  return remedy && location.hash !== remedy[0]
    ? [failure.message, " ", h("a", { href: remedy[0] }, t(remedy[1]))]
    : [failure.message];
}

// ---- sign in ------------------------------------------------------------------------------

function signInView() {
  const phoneError = h("p", { class: "error", id: "phone-error", role: "alert" });
  const phoneNote = h("p", { class: "hint", id: "phone-hint", role: "status" });
  const codeError = h("p", { class: "error", id: "code-error", role: "alert" });
  const phone = h("input", {
    id: "phone", name: "phone", type: "tel", autocomplete: "tel", inputmode: "tel",
    placeholder: t("signin.phone_placeholder"), "aria-describedby": "phone-hint phone-error", autofocus: true,
  });
  phone.addEventListener("input", () => { phoneNote.textContent = phoneHint(phone.value) || ""; });
  const code = h("input", {
    id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
    maxlength: "6", placeholder: t("signin.code_placeholder"), "aria-describedby": "code-error",
  });
  const demo = h("div", { class: "demo", hidden: true, id: "demo-code" });
  const codeStep = h("div", { hidden: true },
    h("label", { for: "code" }, t("signin.code")), code, codeError, demo,
    h("button", { class: "primary", type: "submit", id: "sign-in" }, t("signin.sign_in")));
  const send = h("button", { class: "primary", type: "button", id: "send-code" }, t("signin.send_code"));

  send.addEventListener("click", async () => {
    phoneError.textContent = "";
    phone.removeAttribute("aria-invalid");
    send.disabled = true;
    try {
      const sent = await api("POST", "/v1/auth/sms-codes", { phone: phone.value });
      codeStep.hidden = false;
      send.textContent = t("signin.send_again");
      if (sent.demo_code) {
        demo.hidden = false;
        demo.replaceChildren(...I18n.parts("signin.demo_code", { phone: sent.phone, code: h("code", {}, sent.demo_code) }));
      }
      code.focus();
    } catch (error) {
      phone.setAttribute("aria-invalid", "true");
      phoneError.textContent = error.message;
      // A visitor's local-format number: the hint says what to add.
      phoneNote.textContent = phoneHint(phone.value) || "";
    } finally {
      send.disabled = false;
    }
  });

  const form = h("form", { novalidate: true },
    h("label", { for: "phone" }, t("signin.phone")), phone, phoneNote, phoneError, send, codeStep);
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
    h("header", { class: "bar" }, h("h1", {}, "Cashless"), h("p", {}, t("signin.tagline"))),
    h("section", { class: "card lift", "aria-labelledby": "sign-in-title" },
      h("h2", { id: "sign-in-title" }, t("signin.title")), form,
      h("p", { class: "hint" }, t("signin.hint"))),
  );
}

/** The device's name as the account's device list shows it (kept in English: it is data). */
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
    h("strong", {}, item.counterparty || kindName(item.kind)),
    h("span", {}, `${kindName(item.kind)}${foreign} · ${when(item.created_at)}`));
  const status = I18n.has(`status.${item.status}`) ? t(`status.${item.status}`) : item.status;
  const amount = h("div", {},
    h("span", { class: `amount${incoming ? " in" : ""}` }, `${incoming ? "+" : ""}${money(item.amount)}`),
    item.status === "succeeded" ? null : h("span", { class: "status" }, status));
  return h("li", {}, paymentId && (item.kind === "payment" || item.kind === "refund")
    ? h("a", { class: "line", href: `#/payment/${encodeURIComponent(paymentId)}` }, what, amount)
    : [what, amount]);
}

/** The real-name level, and what it lets the account do (opened for the words). */
function levelBadge(level) {
  const known = ["L0", "L1", "L2"].includes(level);
  return h("details", { class: "level", id: "level" },
    h("summary", {}, known ? t(`level.${level}.short`) : level),
    h("p", { id: "level-meaning" }, known ? t(`level.${level}.means`) : ""));
}

async function homeView() {
  show(h("p", { class: "hint pad" }, t("common.loading")));
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
    show(h("section", { class: "card" }, h("h1", { class: "sr-only" }, "Cashless"),
      h("p", { class: "error", role: "alert" }, error.message),
      h("button", { class: "primary", onclick: route }, t("common.try_again"))));
    return;
  }
  const balance = me.balance;
  const items = statement.items.map(statementLine);

  const signOut = h("button", { class: "link", type: "button", id: "sign-out" }, t("home.sign_out"));
  signOut.addEventListener("click", async () => {
    try { await api("POST", "/v1/auth/sign-out"); } catch (_) { /* signed out either way */ }
    forgetSession();
    location.hash = "";
    route();
  });
  const locked = me.pin_locked_until && Date.parse(me.pin_locked_until) > Date.now();

  show(
    h("header", { class: "bar" },
      h("h1", {}, me.real_name ? t("home.hello_name", { name: me.real_name }) : t("home.hello")),
      h("div", { class: "who" }, h("span", {}, me.phone), levelBadge(me.kyc_level))),
    h("section", { class: "card lift", "aria-labelledby": "balance-title" },
      h("p", { class: "balance-label", id: "balance-title" }, t("home.balance")),
      h("p", { class: "balance", id: "balance" }, I18n.amount(balance.available.amount),
        " ", h("small", {}, I18n.currency(balance.available.currency))),
      h("p", { class: "facts" },
        balance.incoming.amount !== "0.00" ? h("span", {}, t("home.incoming"), " ", h("b", {}, money(balance.incoming))) : null,
        balance.outgoing.amount !== "0.00" ? h("span", {}, t("home.outgoing"), " ", h("b", {}, money(balance.outgoing))) : null,
        h("span", { id: "remaining" }, t("home.remaining"), " ", h("b", {}, money(me.limits.remaining_today))))),
    locked ? h("p", { class: "card notice", id: "pin-locked", role: "status" },
      t("pin.locked_until", { time: I18n.moment(me.pin_locked_until) }), " ",
      h("a", { href: "#/pin/reset" }, t("pin.reset_now"))) : null,
    nextSteps(me, cards.cards),
    h("nav", { class: "actions", "aria-label": t("home.actions") },
      h("a", { class: "action", href: "#/scan", id: "scan" }, icon(ICONS.scan), t("home.scan")),
      h("a", { class: "action", href: "#/pay", id: "pay-code" }, icon(ICONS.code), t("home.pay")),
      cards.cards.length
        ? h("a", { class: "action", href: "#/topup", id: "top-up" }, icon(ICONS.plus), t("home.top_up"))
        : null,
      cards.cards.length
        ? h("a", { class: "action", href: "#/withdraw", id: "withdraw" }, icon(ICONS.out), t("home.withdraw"))
        : null),
    services(),
    h("section", { class: "card", "aria-labelledby": "recent-title" },
      h("div", { class: "title-row" }, h("h2", { id: "recent-title" }, t("home.recent")),
        items.length ? h("a", { href: "#/statement", id: "see-all" }, t("home.see_all")) : null),
      items.length ? h("ul", { class: "items", id: "statement" }, items)
        : h("p", { class: "empty" }, t("home.nothing_yet"))),
    account(me, cards.cards),
    h("div", { class: "footer" }, signOut),
  );
}

/** The account's settings: the PIN, the card a short balance draws on. */
function account(me, cards) {
  const links = [];
  if (me.pin_set) links.push(["#/pin/change", "account.pin", "account.pin_why", "change-pin"]);
  if (cards.length) links.push(["#/payment-card", "account.payment_card", "account.payment_card_why", "payment-card"]);
  if (!links.length) return null;
  return h("section", { class: "card", "aria-labelledby": "account-title" },
    h("h2", { id: "account-title" }, t("account.title")),
    h("ul", { class: "steps" }, links.map(([href, title, why, id]) =>
      h("li", {}, h("a", { href, id }, h("strong", {}, t(title)), h("span", {}, t(why)))))));
}

/** The city's services: what works today opens, what is still being built says so. */
function services() {
  const tile = (id, glyph, name, href) => href
    ? h("li", {}, h("a", { class: "tile", href, id }, icon(glyph), name))
    : h("li", {}, h("span", { class: "tile soon", id, "aria-disabled": "true" }, icon(glyph), name,
      h("small", {}, t("services.soon"))));
  return h("section", { class: "card", "aria-labelledby": "services-title" },
    h("h2", { id: "services-title" }, t("services.title")),
    h("ul", { class: "tiles" },
      tile("orders", ICONS.orders, t("services.orders"), "#/orders"),
      tile("transit", ICONS.transit, t("services.transit"), "#/transit"),
      tile("bills", ICONS.bills, t("services.bills")),
      tile("messages", ICONS.messages, t("services.messages"))));
}

// ---- getting set up: real name, PIN, card, top-up -----------------------------------------

/** What the account still needs before it can pay, as links; nothing once it is ready. */
function nextSteps(me, cards) {
  const steps = [];
  if (me.kyc_level === "L0") steps.push(["#/verify", "steps.verify", "steps.verify_why"]);
  if (!me.pin_set) steps.push(["#/pin", "steps.pin", "steps.pin_why"]);
  if (!cards.length) steps.push(["#/card", "steps.card", "steps.card_why"]);
  if (!steps.length) return null;
  return h("section", { class: "card", "aria-labelledby": "steps-title" },
    h("h2", { id: "steps-title" }, t("steps.title")),
    h("ul", { class: "steps" }, steps.map(([href, title, why]) =>
      h("li", {}, h("a", { href }, h("strong", {}, t(title)), h("span", {}, t(why)))))));
}

/** A labelled input with its error line; `input.error` is that line. */
function field(id, label, attributes) {
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert" });
  const input = h("input", { id, name: id, "aria-describedby": `${id}-error`, ...attributes });
  input.error = error;
  return { input, nodes: [h("label", { for: id }, label), input, error] };
}

/** A PIN field (6 digits, masked). */
function pinField(id, label, attributes) {
  return field(id, label, { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "off", ...attributes });
}

/** Shows a refusal next to `input` (or the form's own line). */
function refuse(input, failure) {
  input.setAttribute("aria-invalid", "true");
  input.error.replaceChildren(...refusalNodes(failure));
  input.focus();
}

/** Refuses a PIN field whose PIN is not 6 digits (an empty one included) without sending it:
 * such a PIN is never a wrong try. True when it was refused. */
function refusePin(input) {
  const problem = pinProblem(input.value);
  if (problem) refuse(input, { message: problem });
  return Boolean(problem);
}

function clearErrors(form) {
  form.querySelectorAll(".error").forEach((line) => { line.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
}

function verifyView() {
  const kind = h("select", { id: "id-kind", name: "kind" },
    h("option", { value: "resident_id" }, t("verify.resident_id")),
    h("option", { value: "passport" }, t("verify.passport")));
  const name = field("real-name", t("verify.name"), { autocomplete: "name", autofocus: true });
  const number = field("id-number", t("verify.number"), { autocomplete: "off" });
  const country = field("country", t("verify.country"), { maxlength: "3" });
  const nationality = field("nationality", t("verify.nationality"), { maxlength: "3" });
  const born = field("born", t("verify.born"), { type: "date" });
  const passportOnly = h("div", { hidden: true }, country.nodes, nationality.nodes, born.nodes);
  kind.addEventListener("change", () => { passportOnly.hidden = kind.value !== "passport"; });
  const form = h("form", { novalidate: true },
    h("label", { for: "id-kind" }, t("verify.document")), kind, name.nodes, number.nodes, passportOnly,
    h("button", { class: "primary", type: "submit" }, t("verify.submit")));
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
      const input = failure.code.includes("name") ? name.input
        : failure.code === "passport_country" ? country.input
          : failure.code === "passport_nationality" ? nationality.input
            : failure.code === "passport_date_of_birth" ? born.input : number.input;
      refuse(input, failure);
    }
  });
  show(backBar(t("verify.title")), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, t("verify.hint"))));
}

function pinView() {
  const pin = pinField("new-pin", t("pin.new"), { autocomplete: "new-password", autofocus: true });
  const again = pinField("pin-again", t("pin.again"), { autocomplete: "new-password" });
  const form = h("form", { novalidate: true }, pin.nodes, again.nodes,
    h("button", { class: "primary", type: "submit" }, t("pin.set")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (pin.input.value !== again.input.value) {
      refuse(again.input, { message: t("pin.differ") });
      return;
    }
    try {
      await api("POST", "/v1/me/pin", { pin: pin.input.value });
      location.hash = "#/home";
    } catch (failure) {
      refuse(pin.input, failure);
    }
  });
  show(backBar(t("pin.title")), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, t("pin.simple_hint"))));
}

/**
 * Changes the PIN: with the old one (`#/pin/change`), or, forgotten or locked, with a code
 * texted to the account's phone (`#/pin/reset`), which also lifts a lock.
 */
function pinChangeView(withCode) {
  const old = pinField("old-pin", t("pin.old"), { autofocus: !withCode });
  const smsCode = field("pin-sms-code", t("pin.sms_code"), { inputmode: "numeric", maxlength: "6", autocomplete: "one-time-code" });
  const fresh = pinField("changed-pin", t("pin.new"), { autocomplete: "new-password" });
  const again = pinField("changed-pin-again", t("pin.again"), { autocomplete: "new-password" });
  const demo = h("div", { class: "demo", hidden: true, id: "pin-demo-code" });
  const sent = h("p", { class: "hint", role: "status", id: "pin-code-status" });
  const sendError = h("p", { class: "error", role: "alert", id: "pin-send-error" });
  const send = h("button", { class: "primary secondary", type: "button", id: "send-pin-code", autofocus: withCode }, t("pin.send_code"));
  const codeStep = h("div", { hidden: true }, smsCode.nodes, demo);
  send.addEventListener("click", async () => {
    sendError.textContent = "";
    send.disabled = true;
    try {
      const answer = await api("POST", "/v1/me/pin/reset-code");
      codeStep.hidden = false;
      send.textContent = t("signin.send_again");
      sent.textContent = t("pin.code_sent", { phone: answer.phone });
      if (answer.demo_code) {
        demo.hidden = false;
        demo.replaceChildren(...I18n.parts("pin.demo_code", { code: h("code", {}, answer.demo_code) }));
      }
      smsCode.input.focus();
    } catch (failure) {
      sendError.replaceChildren(...refusalNodes(failure));
    } finally {
      send.disabled = false;
    }
  });
  const done = h("div", { id: "pin-changed", role: "status" });
  const submit = h("button", { class: "primary", type: "submit", id: "change-pin-submit" }, t(withCode ? "pin.reset_submit" : "pin.change"));
  const form = h("form", { novalidate: true },
    withCode ? [send, sendError, sent, codeStep] : old.nodes,
    fresh.nodes, again.nodes, submit, done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.replaceChildren();
    if (withCode && codeStep.hidden) {
      refuse(fresh.input, { message: t("pin.send_code_first") });
      send.focus();
      return;
    }
    if (withCode && !/^\d{6}$/.test(smsCode.input.value.trim())) {
      refuse(smsCode.input, { message: t("pin.sms_code_shape") });
      return;
    }
    if (!withCode && refusePin(old.input)) return;
    if (fresh.input.value !== again.input.value) {
      refuse(again.input, { message: t("pin.differ") });
      return;
    }
    const body = withCode
      ? { sms_code: smsCode.input.value.trim(), new_pin: fresh.input.value }
      : { old_pin: old.input.value, new_pin: fresh.input.value };
    submit.disabled = true;
    try {
      await api("POST", "/v1/me/pin/change", body);
      form.querySelectorAll("input").forEach((input) => { input.value = ""; });
      done.replaceChildren(h("p", { class: "good" }, t(withCode ? "pin.reset_done" : "pin.changed")),
        h("a", { class: "primary button", href: "#/home" }, t("common.back_home")));
    } catch (failure) {
      const input = ["pin_syntax", "pin_too_simple", "pin_unchanged"].includes(failure.code) ? fresh.input
        : withCode ? smsCode.input : old.input;
      refuse(input, failure);
    } finally {
      submit.disabled = false;
    }
  });
  const other = withCode
    ? h("a", { href: "#/pin/change", id: "pin-know-old" }, t("pin.know_old"))
    : h("a", { href: "#/pin/reset", id: "pin-forgot" }, t("pin.forgot"));
  show(backBar(t(withCode ? "pin.reset_title" : "pin.change_title")),
    h("section", { class: "card" }, form, h("p", { class: "hint" }, t(withCode ? "pin.reset_hint" : "pin.simple_hint")),
      h("p", { class: "hint" }, other)));
}

function cardView() {
  const number = field("card-number", t("card.number"), { inputmode: "numeric", autocomplete: "cc-number", autofocus: true });
  const holder = field("holder", t("card.holder"), { autocomplete: "cc-name" });
  const otp = field("otp", t("card.otp"), { inputmode: "numeric", maxlength: "6", autocomplete: "one-time-code" });
  const demo = h("div", { class: "demo", hidden: true });
  const confirmStep = h("div", { hidden: true }, otp.nodes, demo,
    h("button", { class: "primary", type: "submit", id: "confirm-card" }, t("card.link")));
  const start = h("button", { class: "primary", type: "button", id: "start-card" }, t("card.send_code"));
  let binding = null;
  start.addEventListener("click", async () => {
    clearErrors(form);
    try {
      binding = await api("POST", "/v1/me/cards", { number: number.input.value, holder_name: holder.input.value });
      confirmStep.hidden = false;
      if (binding.demo_code) {
        demo.hidden = false;
        demo.replaceChildren(...I18n.parts("card.demo_code", { code: h("code", {}, binding.demo_code) }));
      }
      otp.input.focus();
    } catch (failure) {
      refuse(failure.code.includes("name") || failure.code === "card_holder_mismatch" ? holder.input : number.input, failure);
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
  show(backBar(t("card.title")), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, t("card.hint"))));
}

/** Choosing the card a short balance draws on takes the PIN; `chosen` runs with the card id
 * (or null) and the PIN once the platform has it. */
function paymentCardForm(cards, current, chosen, options = {}) {
  const card = h("select", { id: options.id || "payment-card-choice" },
    options.required ? null : h("option", { value: "" }, t("paycard.none")),
    cards.map((c) => h("option", { value: c.id, selected: c.id === current }, c.display)));
  const pin = pinField(`${options.id || "payment-card-choice"}-pin`, t("paycard.pin"));
  const status = h("p", { class: "hint", role: "status" });
  const submit = h("button", { class: "primary", type: "submit", id: `${options.id || "payment-card-choice"}-save` },
    options.submit || t("paycard.save"));
  const form = h("form", { novalidate: true },
    h("label", { for: card.id }, options.label || t("paycard.card")), card, pin.nodes, submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.textContent = "";
    // Clearing takes no PIN; choosing one does.
    const choice = card.value || null;
    if (choice && refusePin(pin.input)) return;
    submit.disabled = true;
    try {
      const body = choice ? { card_id: choice, pin: pin.input.value } : { card_id: null };
      const answer = await api("PUT", "/v1/me/payment-card", body);
      await chosen(answer.card_id, pin.input.value, status);
    } catch (failure) {
      refuse(pin.input, failure);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

async function paymentCardView() {
  const [{ cards }, { card_id: current }] = await Promise.all([api("GET", "/v1/me/cards"), api("GET", "/v1/me/payment-card")]);
  const form = paymentCardForm(cards, current, async (chosen, _pin, status) => {
    status.textContent = chosen ? t("paycard.saved", { card: cards.find((c) => c.id === chosen)?.display || "" }) : t("paycard.cleared");
  });
  show(backBar(t("paycard.title")), h("section", { class: "card" }, h("p", { class: "hint" }, t("paycard.explain")), form));
}

/** "7.180000" → "7.18": a rate without its trailing zeros (the digits are the API's own). */
const rateText = (rate) => String(rate).replace(/(\.\d*?[1-9])0+$/, "$1").replace(/\.0+$/, "");

async function topUpView() {
  const { cards } = await api("GET", "/v1/me/cards");
  const card = h("select", { id: "top-up-card", name: "card" },
    cards.map((c) => h("option", { value: c.id, "data-foreign": c.foreign_currency_top_up ? "1" : "" }, c.display)));
  const amount = field("top-up-amount", t("topup.amount"), { inputmode: "decimal", placeholder: "100.00", autofocus: true });
  const currency = h("select", { id: "top-up-currency", name: "currency" },
    ["CNY", "USD", "EUR", "GBP", "JPY", "HKD"].map((code) => h("option", { value: code }, code)));
  const currencyRow = h("div", { hidden: true }, h("label", { for: "top-up-currency" }, t("topup.currency")), currency);
  const quoteLine = h("div", { class: "quote", id: "top-up-quote", role: "status" });
  const status = h("p", { class: "hint", id: "top-up-status", role: "status" });
  const submit = h("button", { class: "primary", type: "submit", id: "top-up-submit" }, t("topup.submit"));
  // A foreign-currency top-up shows the rate and the card's charge first; the press after
  // that confirms exactly what was shown. Any change asks again.
  let quoted = null;
  const unquote = () => {
    quoted = null;
    quoteLine.replaceChildren();
    submit.textContent = t("topup.submit");
  };
  const foreign = () => {
    currencyRow.hidden = !card.selectedOptions[0]?.dataset.foreign;
    if (currencyRow.hidden) currency.value = "CNY";
    unquote();
  };
  card.addEventListener("change", foreign);
  currency.addEventListener("change", unquote);
  amount.input.addEventListener("input", unquote);
  foreign();
  const key = crypto.randomUUID();
  const form = h("form", { novalidate: true }, h("label", { for: "top-up-card" }, t("topup.from")), card, amount.nodes,
    currencyRow, quoteLine, submit, status);
  const quote = async (body) => {
    try {
      const answer = await api("POST", "/v1/me/topups/quote", body);
      const fx = answer.fx || (answer.rate ? { rate: answer.rate, from: answer.card_charge.currency, to: answer.credited.currency } : null);
      quoteLine.replaceChildren(
        h("p", { id: "quote-charge" }, t("topup.quote", { charge: money(answer.card_charge), credited: money(answer.credited) })),
        fx ? h("p", { class: "hint", id: "quote-rate" }, t("topup.rate", { from: fx.from, rate: rateText(fx.rate), to: I18n.currency(fx.to) })) : null);
      submit.textContent = t("topup.confirm", { charge: money(answer.card_charge) });
    } catch (failure) {
      // A server without quotes yet: say that the bank sets the rate, and let it go on.
      if (failure.status !== 404 && failure.status !== 405) throw failure;
      quoteLine.replaceChildren(h("p", { id: "quote-charge" }, t("topup.no_quote", { currency: currency.value })));
      submit.textContent = t("topup.confirm_no_quote");
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.textContent = "";
    const typed = amount.input.value.trim();
    if (!typed) {
      refuse(amount.input, { message: t("amount.missing") });
      return;
    }
    const body = { card_id: card.value, amount: typed, currency: currency.value };
    const wanted = JSON.stringify(body);
    submit.disabled = true;
    try {
      if (currency.value !== "CNY" && quoted !== wanted) {
        await quote(body);
        quoted = wanted;
        return;
      }
      let movement = await api("POST", "/v1/me/topups", body, { "idempotency-key": key });
      status.textContent = t("topup.waiting");
      for (let i = 0; i < 60 && movement.status === "processing"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        movement = await api("GET", `/v1/me/topups/${encodeURIComponent(movement.id)}`);
      }
      if (movement.status === "succeeded") {
        await afterTopUp();
      } else if (movement.status === "failed") {
        refuse(amount.input, { message: t("topup.bank_refused", { reason: movement.failure_reason || t("topup.no_reason") }) });
      } else {
        status.textContent = t("topup.still_confirming");
      }
    } catch (failure) {
      refuse(amount.input, failure);
    } finally {
      submit.disabled = false;
    }
  });
  const resuming = sessionStorage.getItem(RESUME_KEY);
  show(backBar(t("topup.title")), h("section", { class: "card" },
    resuming ? h("p", { class: "hint", id: "top-up-resume" }, t("topup.then_pay")) : null, form));
}

/** After a top-up: back to the payment that was short, if one waits, else home. */
async function afterTopUp() {
  const waiting = JSON.parse(sessionStorage.getItem(RESUME_KEY) || "null");
  sessionStorage.removeItem(RESUME_KEY);
  if (!waiting) {
    location.hash = "#/home";
    return;
  }
  // Scanned again as it was (a static code's amount is typed in again, filled in here).
  await confirmView(waiting.payload, await api("POST", "/v1/me/scan", { payload: waiting.payload }), waiting.amount || "");
}

// ---- scan and pay --------------------------------------------------------------------------

function backBar(title) {
  return h("header", { class: "bar slim" },
    h("a", { href: "#/home", class: "back", "aria-label": t("common.back_home") }, "‹"),
    h("h1", {}, title));
}

/** A scanned text that is a web address: its refusal says so. */
const webLink = (text) => /^([a-z][a-z0-9+.-]*:\/\/|www\.)\S+$/i.test(String(text).trim());

function scanView() {
  const error = h("p", { class: "error", id: "scan-error", role: "alert" });
  const input = h("input", {
    id: "picture", type: "file", accept: "image/png,image/jpeg", capture: "environment",
    "aria-describedby": "scan-error",
  });
  const drop = h("label", { class: "drop", for: "picture" },
    h("strong", {}, t("scan.photo")),
    h("span", {}, t("scan.drop")));
  // What a code that is not a payment code is, when the page has its text (the camera's own
  // reader); otherwise the platform's refusal says it.
  const explain = (failure, text) => {
    if (failure.code !== "qr_invalid" || text === undefined) return failure.message;
    if (webLink(text)) return t("error.qr_invalid.web_link");
    if (/^CT1:/.test(String(text).trim())) return t("error.qr_invalid.transit_code");
    return failure.message;
  };
  const read = async (file) => {
    if (!file) return;
    error.textContent = "";
    drop.classList.add("busy");
    try {
      const scanned = await api("POST", "/v1/me/scan-image", file);
      await confirmView(scanned.payload, scanned.scan);
    } catch (failure) {
      error.textContent = explain(failure, failure.details.payload);
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
    "aria-label": t("scan.camera") });
  const note = h("p", { class: "hint", id: "camera-note", role: "status" });
  show(backBar(t("scan.title")),
    h("section", { class: "card" }, video, note, input, drop, error,
      h("p", { class: "hint" }, t("scan.hint"))));
  let refused = "";
  watchCamera(video, note, async (found) => {
    try {
      if (found.text !== undefined) {
        if (found.text === refused) return false;
        const scan = await api("POST", "/v1/me/scan", { payload: found.text });
        await confirmView(found.text, scan);
      } else {
        const scanned = await api("POST", "/v1/me/scan-image?live=true", found.still);
        await confirmView(scanned.payload, scanned.scan);
      }
      return true;
    } catch (failure) {
      // A code the platform refused is not sent again; after a network failure it is.
      if (found.text !== undefined && failure.status >= 400 && failure.status < 500) refused = found.text;
      if (!STILL_LOOKING.has(failure.code)) error.textContent = explain(failure, found.text);
      return false;
    }
  });
}

/** What this view shows, to draw again in another language (views without an address). */
let redraw = null;

/** The account's money and limits, to say "not enough" before the PIN (null if unknown: then
 * the platform's answer says it). */
async function payerFacts() {
  try {
    const [me, { card_id: fallback }, { cards }] = await Promise.all([
      api("GET", "/v1/me"), api("GET", "/v1/me/payment-card"), api("GET", "/v1/me/cards")]);
    return { me, fallback: cards.find((c) => c.id === fallback) || null, cards };
  } catch (_) {
    return null;
  }
}

/**
 * Whether `amount` (minor units) can be paid, before any PIN: `{ ok: true, from }` (from the
 * balance, or `from` the fallback card for the shortfall), or `{ ok: false, nodes }` saying
 * why, with what puts it right.
 */
function payable(facts, amount) {
  if (!facts || amount === null) return { ok: true };
  const { me } = facts;
  if (me.kyc_level === "L0") {
    return { ok: false, code: "real_name_required", words: [t("pay.verify_first"), " ", h("a", { href: "#/verify" }, t("verify.now"))] };
  }
  const single = minorUnits(me.limits.single.amount);
  if (single !== null && amount > single) return { ok: false, words: [t("pay.over_single", { limit: money(me.limits.single) })] };
  const left = minorUnits(me.limits.remaining_today.amount);
  if (left !== null && amount > left) return { ok: false, words: [t("pay.over_today", { left: money(me.limits.remaining_today) })] };
  const available = minorUnits(me.balance.available.amount);
  if (available === null || amount <= available) return { ok: true };
  const shortfall = { amount: decimal(amount - available), currency: me.balance.available.currency };
  if (facts.fallback) {
    return { ok: true, words: [t("pay.from_card", { balance: money(me.balance.available), rest: money(shortfall), card: facts.fallback.display })] };
  }
  return { ok: false, short: shortfall };
}

/** The confirm screen of a scanned code: the amount (typed for a static code), then what the
 * account cannot do (not enough money, a limit) before any PIN, then the PIN when asked. */
async function confirmView(payload, scan, typedAmount = "") {
  const facts = await payerFacts();
  // One key per payment screen: pressing Pay again (or a retry after a lost answer) can never
  // pay twice.
  const key = crypto.randomUUID();
  const amountError = h("p", { class: "error", id: "amount-error", role: "alert" });
  const pinError = h("p", { class: "error", id: "pin-error", role: "alert" });
  // Refusals that are not about a field (the order is paid, closed, expired …) go here, so
  // they show whatever the code's kind.
  const payError = h("p", { class: "error", id: "pay-error", role: "alert" });
  const amount = h("input", {
    id: "amount", inputmode: "decimal", autocomplete: "off", placeholder: "0.00", value: typedAmount,
    "aria-describedby": "amount-error", autofocus: scan.amount ? false : true,
  });
  const pin = h("input", {
    id: "pin", type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "6",
    "aria-describedby": "pin-error",
  });
  const pinStep = h("div", { hidden: scan.pin_required !== true },
    h("label", { for: "pin" }, t("pay.pin")), pin, pinError);
  const shortNote = h("div", { class: "short", id: "short", role: "status", hidden: true });
  const pay = h("button", { class: "primary", type: "submit", id: "pay" }, t("pay.pay"));
  const form = h("form", { novalidate: true },
    scan.amount
      ? h("p", { class: "balance", id: "pay-amount" }, I18n.amount(scan.amount.amount), " ", h("small", {}, I18n.currency(scan.amount.currency)))
      : [h("label", { for: "amount" }, t("pay.amount")), amount, amountError],
    pinStep, payError, pay);
  const typed = () => (scan.amount ? scan.amount.amount : amount.value.trim());

  /** The payment itself; `withPin` is a PIN already given (choosing the card took it). */
  const send = async (withPin) => {
    const body = { payload };
    if (!scan.amount) body.amount = typed();
    if (withPin) body.pin = withPin;
    else if (!pinStep.hidden) body.pin = pin.value;
    pay.disabled = true;
    try {
      receiptView(await api("POST", "/v1/me/payments", body, { "idempotency-key": key }));
      return true;
    } catch (failure) {
      if (failure.code === "pin_required" && !withPin) {
        pinStep.hidden = false;
        pinError.textContent = t("pay.pin_needed");
        pin.focus();
      } else if (failure.code.startsWith("pin") && !withPin) {
        pinError.replaceChildren(...refusalNodes(failure));
        pin.focus();
      } else if (!scan.amount && failure.code.startsWith("amount")) {
        amountError.textContent = failure.message;
        amount.focus();
      } else {
        payError.replaceChildren(...refusalNodes(failure));
        // A paid, closed or expired order cannot be paid from here: no Pay to press again.
        if (["order_already_paid", "order_closed", "order_expired", "qr_unknown"].includes(failure.code)) {
          pay.hidden = true;
          pinStep.hidden = true;
          // The scan view may have the same address as this one: open it either way.
          form.append(h("a", { class: "primary button", href: "#/scan", id: "scan-again", onclick: (event) => {
            if (location.hash !== "#/scan") return;
            event.preventDefault();
            route();
          } }, t("pay.scan_again")));
        }
      }
      return false;
    } finally {
      pay.disabled = false;
    }
  };

  /** Says what stands in the way of `minor` before the PIN; true when it may be paid. */
  const check = (minor) => {
    const verdict = payable(facts, minor);
    shortNote.replaceChildren();
    shortNote.hidden = !verdict.words && !verdict.short;
    if (verdict.words) shortNote.append(h("p", {}, ...verdict.words));
    if (verdict.short) {
      shortNote.append(h("p", { id: "not-enough" }, t("pay.not_enough", {
        balance: money(facts.me.balance.available), amount: money({ amount: decimal(minor), currency: facts.me.balance.available.currency }),
      })));
      if (facts.cards.length) {
        shortNote.append(h("p", {}, t("pay.use_card", { rest: money(verdict.short) })),
          paymentCardForm(facts.cards, null, async (cardId, cardPin) => {
            facts.fallback = facts.cards.find((c) => c.id === cardId) || null;
            shortNote.hidden = true;
            // Refused (the bank declined the card …): the refusal shows, and Pay with it.
            if (!(await send(cardPin))) check(minor);
          }, { id: "fallback-card", required: true, label: t("pay.card"), submit: t("pay.use_card_and_pay") }));
      }
      const resume = () => sessionStorage.setItem(RESUME_KEY, JSON.stringify({ payload, amount: scan.amount ? "" : typed() }));
      shortNote.append(h("a", { class: "primary button secondary", href: "#/topup", id: "short-top-up", onclick: resume },
        t("pay.top_up_first")));
    }
    pay.hidden = !verdict.ok;
    if (!verdict.ok) pinStep.hidden = true;
    return verdict.ok;
  };

  let asking = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    amountError.textContent = "";
    pinError.textContent = "";
    payError.textContent = "";
    const minor = minorUnits(typed());
    if (!scan.amount) {
      if (minor === null || minor === 0n) {
        amountError.textContent = t("pay.amount_shape");
        amount.focus();
        return;
      }
      // Whether this amount asks for the PIN: known before the PIN is asked.
      try {
        const priced = await api("POST", "/v1/me/scan", { payload, amount: typed() });
        if (priced.pin_required === true && pinStep.hidden) asking = true;
      } catch (_) { /* the payment's own answer says it */ }
    }
    if (!check(minor)) {
      asking = false;
      return;
    }
    if (asking) {
      // The PIN is asked only now that nothing else stands in the way.
      asking = false;
      pinStep.hidden = false;
      pinError.textContent = t("pay.pin_needed");
      pin.focus();
      return;
    }
    if (!pinStep.hidden && pinProblem(pin.value)) {
      pinError.textContent = pinProblem(pin.value);
      pin.focus();
      return;
    }
    await send(null);
  });
  // A static code's amount may change: what stood in the way goes until it is checked again.
  amount.addEventListener("input", () => {
    shortNote.replaceChildren();
    shortNote.hidden = true;
    pay.hidden = false;
  });
  show(backBar(t("pay.title")),
    h("section", { class: "card", "aria-labelledby": "merchant-name" },
      h("p", { class: "balance-label" }, scan.kind === "dynamic" ? t("pay.order_from") : t("pay.pay_to")),
      h("h2", { id: "merchant-name" }, scan.chinese_name ? `${scan.merchant_name} · ${scan.chinese_name}` : scan.merchant_name),
      h("p", { class: "hint" }, scan.subject || scan.city),
      // Outside the form: the card chooser in it is a form of its own.
      form, shortNote));
  // An order's amount is known: what stands in the way shows at once.
  if (scan.amount) check(minorUnits(scan.amount.amount));
  redraw = () => confirmView(payload, scan, amount.value);
}

function receiptView(payment) {
  redraw = () => receiptView(payment);
  const refunded = payment.refunded && payment.refunded.amount !== "0.00";
  const [title, done] = {
    SUCCESS: [refunded ? "receipt.partly_refunded" : "receipt.paid", true],
    FINISHED: ["receipt.paid", true],
    USERPAYING: ["receipt.waiting_pin", false],
    WAIT_BUYER_PAY: ["receipt.waiting", false],
    CLOSED: [refunded ? "receipt.refunded" : "receipt.closed", true],
  }[payment.status] || [null, false];
  const paid = done;
  show(backBar(t("receipt.title")),
    h("section", { class: "card receipt", "aria-labelledby": "receipt-title" },
      h("p", { class: `tick${paid ? "" : " wait"}`, "aria-hidden": "true" }, paid ? "✓" : "…"),
      h("h2", { id: "receipt-title" }, title ? t(title) : payment.status),
      h("p", { class: "balance", id: "receipt-amount" }, I18n.amount(payment.amount.amount), " ", h("small", {}, I18n.currency(payment.amount.currency))),
      h("dl", {},
        h("dt", {}, t("receipt.to")), h("dd", {}, payment.merchant_name),
        payment.subject !== payment.merchant_name ? [h("dt", {}, t("receipt.for")), h("dd", {}, payment.subject)] : null,
        h("dt", {}, t("receipt.when")), h("dd", {}, when(payment.paid_at || payment.created_at)),
        refunded ? [h("dt", {}, t("receipt.refunded_amount")), h("dd", {}, money(payment.refunded))] : null,
        h("dt", {}, t("receipt.payment")), h("dd", { class: "mono" }, payment.payment_id)),
      h("a", { class: "primary button", href: "#/home" }, t("receipt.done"))));
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
    throw new ApiError(0, "insecure", t("paycode.insecure"));
  }
  const device = await enrolment();
  const strip = h("div", { class: "barcode", id: "barcode" });
  const figure = h("div", { class: "paycode", id: "paycode" });
  const digits = h("p", { class: "digits", id: "paycode-digits", "aria-live": "off" });
  const status = h("p", { class: "hint", role: "status", id: "paycode-status" }, t("paycode.show"));
  const prompt = h("div", { id: "confirm-area" });
  show(backBar(t("paycode.title")),
    h("section", { class: "card center", "aria-labelledby": "pay-title" },
      h("h2", { id: "pay-title" }, t("paycode.heading")), strip, digits, figure, status),
    prompt);

  let shown = "";
  const draw = async () => {
    const code = await paycodeDigits(device, device.variant, Math.floor(Date.now() / 1000));
    if (code === shown) return;
    shown = code;
    figure.replaceChildren(QR.svg(code, t("paycode.qr_label")));
    strip.replaceChildren(Barcode.svg(code, t("paycode.barcode_label")));
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
  const pin = pinField("confirm-pin", t("pay.pin"), { autofocus: true });
  const form = h("form", { novalidate: true, class: "card", "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, t("paycode.confirm_title", { amount: money(payment.amount), merchant: payment.merchant_name })),
    h("p", { class: "hint" }, t("paycode.confirm_hint")),
    pin.nodes,
    h("button", { class: "primary", type: "submit" }, t("paycode.confirm")),
    h("button", { class: "link", type: "button", onclick: async () => {
      try {
        await api("POST", `/v1/me/payments/${encodeURIComponent(payment.payment_id)}/decline`);
        form.replaceChildren(h("p", { class: "hint" }, t("paycode.declined")));
      } catch (failure) {
        refuse(pin.input, failure);
      }
    } }, t("paycode.decline")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (refusePin(pin.input)) return;
    try {
      await api("POST", `/v1/me/payments/${encodeURIComponent(payment.payment_id)}/confirm`, { pin: pin.input.value });
      form.replaceChildren(h("p", { class: "hint" }, t("paycode.confirmed")));
    } catch (failure) {
      refuse(pin.input, failure);
    }
  });
  setTimeout(() => pin.input.focus(), 0);
  return form;
}

// ---- statement, receipts, withdraw ----------------------------------------------------------

/** The statement, from the start filtered to `first` ("" for everything). */
function statementView(first = "", title = t("statement.title")) {
  const kinds = [["", "statement.all"], ["payment", "statement.payments"], ["refund", "statement.refunds"],
    ["top_up", "statement.top_ups"], ["withdrawal", "statement.withdrawals"], ["transit", "statement.transit"]];
  const list = h("ul", { class: "items", id: "statement-all" });
  const error = h("p", { class: "error", role: "alert" });
  const more = h("button", { class: "link", type: "button", hidden: true }, t("statement.older"));
  let kind = first;
  let cursor = null;
  const chips = h("div", { class: "chips", role: "group", "aria-label": t("statement.show") });
  const load = async (fresh) => {
    error.textContent = "";
    if (fresh) { list.replaceChildren(); cursor = null; }
    const params = new URLSearchParams({ limit: "20" });
    if (kind) params.set("kind", kind);
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api("GET", `/v1/me/statement?${params}`);
      list.append(...page.items.map(statementLine));
      if (!list.children.length) list.append(h("li", { class: "empty" }, t("statement.empty")));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  for (const [value, label] of kinds) {
    const chip = h("button", { type: "button", class: "chip", id: `kind-${value || "all"}`, "aria-pressed": value === kind ? "true" : "false" }, t(label));
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
  const [{ cards }, me] = await Promise.all([api("GET", "/v1/me/cards"), api("GET", "/v1/me")]);
  const card = h("select", { id: "withdraw-card" }, cards.map((c) => h("option", { value: c.id }, c.display)));
  const amount = field("withdraw-amount", t("withdraw.amount"), { inputmode: "decimal", placeholder: "50.00", autofocus: true });
  const pin = pinField("withdraw-pin", t("pay.pin"));
  const status = h("p", { class: "hint", role: "status", id: "withdraw-status" });
  const submit = h("button", { class: "primary", type: "submit" }, t("withdraw.submit"));
  const key = crypto.randomUUID();
  const form = h("form", { novalidate: true }, h("label", { for: "withdraw-card" }, t("withdraw.to")), card, amount.nodes, pin.nodes, submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const minor = minorUnits(amount.input.value);
    if (minor === null || minor === 0n) {
      refuse(amount.input, { message: t("pay.amount_shape") });
      return;
    }
    // Not enough is said before the PIN is asked.
    if (minor > minorUnits(me.balance.available.amount)) {
      refuse(amount.input, { message: t("withdraw.not_enough", { balance: money(me.balance.available) }) });
      return;
    }
    if (refusePin(pin.input)) return;
    submit.disabled = true;
    try {
      let movement = await api("POST", "/v1/me/withdrawals",
        { card_id: card.value, amount: amount.input.value.trim(), pin: pin.input.value }, { "idempotency-key": key });
      status.textContent = t("withdraw.on_its_way");
      for (let i = 0; i < 60 && movement.status === "processing"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        movement = await api("GET", `/v1/me/withdrawals/${encodeURIComponent(movement.id)}`);
      }
      if (movement.status === "failed") {
        refuse(amount.input, { message: t("withdraw.bank_refused", { reason: movement.failure_reason || t("topup.no_reason") }) });
      } else {
        location.hash = "#/home";
      }
    } catch (failure) {
      refuse(failure.code.startsWith("pin") ? pin.input : amount.input, failure);
    } finally {
      submit.disabled = false;
    }
  });
  show(backBar(t("withdraw.title")), h("section", { class: "card" }, form,
    h("p", { class: "hint" }, t("withdraw.hint"))));
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
    throw new ApiError(0, "insecure", t("transit.insecure"));
  }
  const key = await DeviceKey.get();
  const operator = localStorage.getItem(`${TRANSIT_KEY}.operator`) || "1";
  const choose = (value, name) => h("button", {
    type: "button", class: value === operator ? "chip on" : "chip", "aria-pressed": String(value === operator),
    id: `transit-operator-${value}`,
    onclick: () => { localStorage.setItem(`${TRANSIT_KEY}.operator`, value); transitView().catch(showFailure); },
  }, name);
  const figure = h("div", { class: "paycode", id: "ride-code" });
  const status = h("p", { class: "hint", role: "status", id: "ride-status" });
  const ridesList = h("div", { id: "journeys" });
  show(backBar(t("transit.title")),
    h("section", { class: "card center", "aria-labelledby": "transit-title" },
      h("h2", { id: "transit-title" }, t("transit.ride_code")),
      h("div", { class: "chips", role: "group", "aria-label": t("transit.operator") },
        choose("1", t("transit.metro")), choose("2", t("transit.bus"))),
      figure, status),
    ridesList);
  if (!key) {
    status.textContent = t("transit.no_key");
    return;
  }
  let pass;
  try {
    pass = await transitPass(operator);
  } catch (error) {
    status.replaceChildren(...refusalNodes(error));
    return;
  }
  const draw = async () => {
    const now = Math.floor(Date.now() / 1000);
    const code = await rideCode(pass.certificate, key, now);
    figure.replaceChildren(QR.svg(code, t("transit.code_label", { operator: pass.operator_name })));
    figure.dataset.code = code;
    status.textContent = t(operator === "1" ? "transit.scan_at_gate" : "transit.scan_at_reader", { until: when(pass.valid_until) });
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
  const pay = h("button", { class: "primary", type: "button", id: "pay-fares" }, t("transit.pay_owed", { owed: money(rides.owed) }));
  pay.addEventListener("click", async () => {
    pay.disabled = true;
    try {
      await api("POST", "/v1/me/transit/debts/pay", {});
      await showJourneys(into);
    } catch (error) {
      message.replaceChildren(...refusalNodes(error));
      pay.disabled = false;
    }
  });
  const line = (journey) => {
    const route = journey.kind === "flat"
      ? t("transit.flat_route", { operator: journey.operator_name, line: journey.line })
      : `${journey.from ? journey.from.name : t("transit.no_entry")} → ${journey.to ? journey.to.name : t("transit.no_exit")}`;
    const distance = journey.distance_m ? ` · ${t("transit.km", { km: I18n.number(journey.distance_m / 1000, 1) })}` : "";
    return h("li", {},
      h("div", { class: "item-what" }, h("strong", {}, route),
        h("span", {}, `${journey.operator_name} · ${when(journey.started_at)}${distance}`)),
      h("div", {}, h("span", { class: "amount" }, money({ ...journey.fare, amount: `-${journey.fare.amount}` })),
        journey.status === "paid" ? null : h("span", { class: "status" }, t("transit.owed_status"))));
  };
  into.replaceChildren(h("section", { class: "card", "aria-labelledby": "journeys-title" },
    h("h2", { id: "journeys-title" }, t("transit.journeys")),
    owed ? h("div", { class: "owed", id: "owed" },
      h("p", {}, t("transit.you_owe", { owed: money(rides.owed) })), pay, message) : null,
    rides.journeys.length ? h("ul", { class: "items", id: "journey-list" }, rides.journeys.map(line))
      : h("p", { class: "empty" }, t("transit.no_journeys"))));
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  redraw = null;
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
      show(backBar(t("receipt.title")), h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, failure.message)));
    });
    return;
  }
  const views = {
    "#/statement": () => statementView(),
    "#/orders": () => statementView("payment", t("statement.orders")),
    "#/withdraw": withdrawView,
    "#/pay": payView,
    "#/scan": scanView,
    "#/verify": verifyView,
    "#/pin": pinView,
    "#/pin/change": () => pinChangeView(false),
    "#/pin/reset": () => pinChangeView(true),
    "#/payment-card": paymentCardView,
    "#/card": cardView,
    "#/topup": topUpView,
    "#/transit": transitView,
  };
  Promise.resolve((views[location.hash] || homeView)()).catch(showFailure);
}

/** A view that could not be shown says why, in words, with the way home. */
function showFailure(failure) {
  show(backBar("Cashless"), h("section", { class: "card" },
    h("p", { class: "error", role: "alert" }, ...refusalNodes(failure)),
    h("a", { class: "primary button", href: "#/home" }, t("common.back_home"))));
}

// Another language draws the same view again (a view without an address, like a receipt,
// included).
I18n.page("title.wallet", () => (redraw ? redraw() : route()));
window.addEventListener("hashchange", route);
route();
