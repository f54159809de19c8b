// Cashless POS: a cashier's tablet page. Staff sign in with their phone and a texted code (the
// merchant adds them in the console): the session's token goes with each request, and the
// role decides what the till offers (a cashier takes payments; a manager also refunds).
// Or the till is opened with a key: the merchant's Ed25519 key — in memory only, as a
// non-extractable WebCrypto key: a reload asks for it again — signs every merchant API
// request in the browser, exactly as a server integration would. Best a till key (made in the
// console): it takes payments and looks them up, but cannot refund or change settings.
// Every word comes from the language tables (t(), i18n.js).
"use strict";


// { merchantId, name, scope: "full" | "manager" | "till", stores, store, terminal, storeName,
//   and either keyId + key (a signing key) or staffToken + staffName (a staff session) }
let session = null;

/** What this till shows, to draw again in another language. */
let redraw = null;

/** A merchant request: with the staff session's token, or signed with the key (Ed25519 over
 * method, path, timestamp, nonce and the body's hash). `body` is JSON, or a Blob (a picture). */
async function merchantFetch(method, path, body) {
  const raw = body instanceof Blob;
  const bytes = body === undefined ? new Uint8Array()
    : raw ? new Uint8Array(await body.arrayBuffer()) : new TextEncoder().encode(JSON.stringify(body));
  const headers = {};
  if (body !== undefined) headers["content-type"] = raw ? body.type || "application/octet-stream" : "application/json";
  if (session.staffToken) {
    headers.authorization = `Bearer ${session.staffToken}`;
  } else {
    const timestamp = Math.floor(Date.now() / 1000);
    const nonce = hex(crypto.getRandomValues(new Uint8Array(12)));
    const bodyHash = hex(await crypto.subtle.digest("SHA-256", bytes));
    const message = `CASHLESS-ED25519\n${method}\n${path}\n${timestamp}\n${nonce}\n${bodyHash}`;
    const signature = hex(await crypto.subtle.sign("Ed25519", session.key, new TextEncoder().encode(message)));
    headers.authorization = `CASHLESS-ED25519 merchant_id="${session.merchantId}",key_id="${session.keyId}",timestamp="${timestamp}",nonce="${nonce}",signature="${signature}"`;
  }
  return send(path, { method, headers, body: body === undefined ? undefined : bytes });
}

async function send(path, init) {
  const response = await reach(path, init);
  // A staff session that ended (the shift is over, or the merchant removed them): sign in again.
  if (response.status === 401 && session && session.staffToken) {
    session = null;
    signInPage(t("pos.session_ended"));
  }
  return response;
}

/** An unsigned JSON request (staff sign-in). */
async function publicApi(method, path, body) {
  return answerOf(await reach(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
}

async function merchantApi(method, path, body) {
  return answerOf(await merchantFetch(method, path, body));
}

// ---- sign in ------------------------------------------------------------------------------

async function signInPage(notice) {
  redraw = () => signInPage(notice);
  const demo = await fetch("/v1/demo/merchants").then((r) => (r.ok ? r.json() : null)).catch(() => null);

  // Staff: phone, then the texted code.
  const staffError = h("p", { class: "error", role: "alert", id: "staff-error" });
  const phoneNote = h("p", { class: "hint", id: "staff-phone-hint", role: "status" });
  const phone = h("input", { id: "staff-phone", type: "tel", autocomplete: "tel", autofocus: true, "aria-describedby": "staff-phone-hint staff-error" });
  const code = h("input", { id: "staff-code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", "aria-describedby": "staff-error" });
  const codeStep = h("div", { hidden: true }, h("label", { for: "staff-code" }, t("signin.code")), code,
    h("p", { class: "demo", id: "staff-demo-code", hidden: true }));
  const sendCode = h("button", { class: "primary", type: "submit", id: "send-staff-code" }, t("signin.send_code"));
  const staffForm = h("form", { novalidate: true },
    h("label", { for: "staff-phone" }, t("pos.your_phone")), phone, phoneNote, codeStep, staffError, sendCode);
  // Another number needs its own code.
  phone.addEventListener("input", () => {
    phoneNote.textContent = phoneHint(phone.value) || "";
    if (codeStep.hidden) return;
    codeStep.hidden = true;
    code.value = "";
    sendCode.textContent = t("signin.send_code");
  });
  staffForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    staffError.textContent = "";
    try {
      if (codeStep.hidden) {
        const sent = await publicApi("POST", "/v1/staff/sms-codes", { phone: phone.value.trim() });
        codeStep.hidden = false;
        sendCode.textContent = t("signin.sign_in");
        const demoLine = codeStep.querySelector("#staff-demo-code");
        if (sent.demo_code) {
          demoLine.hidden = false;
          demoLine.replaceChildren(...I18n.parts("pos.demo_code", { code: h("code", {}, sent.demo_code) }));
        }
        code.focus();
        return;
      }
      const signedIn = await publicApi("POST", "/v1/staff/sessions", { phone: phone.value.trim(), code: code.value.trim() });
      session = {
        staffToken: signedIn.token, staffName: signedIn.staff.name, merchantId: signedIn.merchant_id,
        scope: signedIn.staff.role === "manager" ? "manager" : "till",
      };
      await openTill();
    } catch (failure) {
      session = null;
      staffError.textContent = failure.message;
    }
  });

  // A key: the merchant's own, or one made for this till.
  const error = h("p", { class: "error", role: "alert", id: "pos-error" });
  const merchant = h("input", { id: "merchant-id", autocomplete: "off" });
  const keyId = h("input", { id: "key-id", autocomplete: "off" });
  // Not a password field: password managers must not offer to save and sync this key.
  const secret = h("input", { id: "secret-key", class: "masked", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { novalidate: true },
    h("label", { for: "merchant-id" }, t("pos.merchant_id")), merchant,
    h("label", { for: "key-id" }, t("pos.key_id")), keyId,
    h("label", { for: "secret-key" }, t("pos.secret_key")), secret,
    error,
    h("button", { class: "primary secondary", type: "submit" }, t("pos.open_with_key")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await open({ merchantId: merchant.value.trim(), keyId: keyId.value.trim(), secret: secret.value.trim() });
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  const picker = demo && h("section", { class: "card", "aria-labelledby": "demo-title" },
    h("h2", { id: "demo-title" }, t("pos.demo_city")),
    (demo.staff || []).length ? [h("p", { class: "hint" }, t("pos.demo_staff")),
      h("ul", { class: "steps" }, demo.staff.map((person) => h("li", {},
        h("button", { type: "button", class: "pick", onclick: () => { phone.value = person.phone; sendCode.focus(); } },
          h("strong", {}, `${person.name} · ${roleName(person.role)}`), h("span", {}, `${person.merchant} · ${person.phone}`)))))] : null,
    h("p", { class: "hint" }, t("pos.demo_keys")),
    h("ul", { class: "steps" }, demo.merchants.map((m) => h("li", {},
      h("button", { type: "button", class: "pick", onclick: () => {
        merchant.value = m.id;
        keyId.value = m.key_id;
        secret.value = m.secret_key;
        form.requestSubmit();
      } }, h("strong", {}, `${m.display_name} · ${m.chinese_name}`), h("span", {}, m.kind))))));
  show(
    h("header", { class: "bar" }, h("h1", {}, t("title.pos")), h("p", {}, t("pos.tagline"))),
    notice ? h("p", { class: "card notice", role: "status" }, notice) : null,
    h("section", { class: "card lift", "aria-labelledby": "staff-title" }, h("h2", { id: "staff-title" }, t("pos.staff_sign_in")), staffForm),
    h("section", { class: "card", "aria-labelledby": "till-title" }, h("h2", { id: "till-title" }, t("pos.open_with_key_title")), form),
    picker);
}

async function open({ merchantId, keyId, secret }) {
  session = { merchantId, keyId, key: await importEd25519Seed(secret, t("pos.key_shape")) };
  try {
    const profile = await merchantApi("GET", "/v1/merchant/profile");
    // Only the full key sees the keys: a till key sees none.
    const own = profile.keys.find((key) => key.id === keyId);
    session.scope = own ? own.scope : profile.keys.length ? "full" : "till";
    startTill(profile);
  } catch (failure) {
    session = null;
    throw failure;
  }
}

/** A signed-in staff member's till. */
async function openTill() {
  startTill(await merchantApi("GET", "/v1/merchant/profile"));
}

function startTill(profile) {
  session.name = profile.display_name;
  session.stores = profile.stores;
  useStore(profile.stores[0]);
  tillPage();
}

/** Closing the till ends a staff session on the server too. */
async function closeTill() {
  if (session && session.staffToken) {
    try { await merchantFetch("POST", "/v1/staff/sign-out"); } catch (_) { /* closed here either way */ }
  }
  session = null;
  signInPage();
}

/** The store (and its first terminal) this till sells for. */
function useStore(store) {
  session.store = store ? store.id : null;
  session.terminal = store && store.terminals[0] ? store.terminals[0].id : null;
  session.storeName = store ? store.name : "";
}

// ---- the till -----------------------------------------------------------------------------

/** A staff role in words. */
const roleName = (role) => (I18n.has(`pos.role.${role}`) ? t(`pos.role.${role}`) : role);

function tillPage() {
  redraw = tillPage;
  const error = h("p", { class: "error", role: "alert", id: "amount-error" });
  const amount = h("input", { id: "sale-amount", inputmode: "decimal", placeholder: "0.00", autocomplete: "off", autofocus: true, "aria-describedby": "amount-error" });
  const subject = h("input", { id: "sale-subject", value: t("pos.sale_default"), autocomplete: "off" });
  const code = h("input", { id: "customer-code", inputmode: "numeric", autocomplete: "off", placeholder: "28…", "aria-describedby": "amount-error" });
  // One order number per sale: a retry after a lost answer (or a double tap) is the same
  // order, never a second charge. A different amount or code makes it a new sale.
  let sale = null;
  const saleNumber = (what) => {
    if (!sale || sale.what !== what) {
      sale = { what, no: `POS-${Date.now().toString(36).toUpperCase()}-${hex(crypto.getRandomValues(new Uint8Array(3)))}` };
    }
    return sale.no;
  };
  /** The amount as the API takes it, or null (then said next to it). */
  const typedAmount = () => {
    const value = amount.value.trim();
    const minor = minorUnits(value);
    if (minor === null || minor === 0n) {
      error.textContent = t("pos.amount_shape");
      amount.focus();
      return null;
    }
    return value;
  };
  const what = () => subject.value.trim() || t("pos.sale_default");
  const busy = (on) => { showQr.disabled = on; charge.disabled = on; };
  const showQr = h("button", { class: "primary", type: "button", id: "show-qr" }, t("pos.show_qr"));
  showQr.addEventListener("click", async () => {
    error.textContent = "";
    const value = typedAmount();
    if (value === null) return;
    busy(true);
    try {
      const order = await merchantApi("POST", "/v1/merchant/orders", {
        out_trade_no: saleNumber(`qr|${value}|${what()}`), amount: value,
        subject: what(), store_id: session.store, terminal_id: session.terminal, expires_in_secs: 900,
      });
      waitPage(order);
    } catch (failure) {
      error.textContent = failure.message;
      amount.focus();
    } finally {
      busy(false);
    }
  });
  const charge = h("button", { class: "primary secondary", type: "submit", id: "charge-code" }, t("pos.charge_code"));
  // The till's camera reads the customer's code, for tills without a barcode scanner.
  const camera = h("video", { id: "till-camera", class: "camera", hidden: true, muted: true, playsinline: true,
    "aria-label": t("pos.camera") });
  const cameraNote = h("p", { class: "hint", id: "till-camera-note", role: "status" });
  const scanButton = h("button", { class: "link", type: "button", id: "scan-customer-code" }, t("pos.scan_with_camera"));
  scanButton.addEventListener("click", () => {
    scanButton.hidden = true;
    watchCamera(camera, cameraNote, async (found) => {
      try {
        const text = found.text !== undefined ? found.text
          : (await merchantApi("POST", "/v1/merchant/scan-image?live=true", found.still)).text;
        const digits = text.replace(/\s/g, "");
        if (!/^\d{18}$/.test(digits)) {
          error.textContent = t("pos.not_a_paycode");
          return false;
        }
        code.value = digits;
        camera.hidden = true;
        cameraNote.textContent = "";
        form.requestSubmit();
        return true;
      } catch (failure) {
        if (!STILL_LOOKING.has(failure.code)) error.textContent = failure.message;
        return false;
      }
    });
  });
  const store = session.stores.length > 1
    ? h("select", { id: "till-store", onchange: (event) => {
      useStore(session.stores.find((s) => s.id === event.target.value));
      tillPage();
    } }, session.stores.map((s) => h("option", { value: s.id, selected: s.id === session.store }, s.name)))
    : null;
  const form = h("form", { novalidate: true },
    store ? [h("label", { for: "till-store" }, t("pos.store")), store] : null,
    h("label", { for: "sale-amount" }, t("pos.amount")), amount,
    h("label", { for: "sale-subject" }, t("pos.what_for")), subject,
    error, showQr,
    h("label", { for: "customer-code" }, t("pos.customer_code")), code,
    h("div", { class: "camera-row" }, camera, cameraNote, scanButton), charge);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const value = typedAmount();
    if (value === null) return;
    // Only a payment code is sent: anything else is said here, in words.
    const authCode = code.value.replace(/\s/g, "");
    if (!/^\d{18}$/.test(authCode)) {
      error.textContent = authCode ? t("pos.paycode_shape") : t("pos.paycode_missing");
      code.focus();
      return;
    }
    busy(true);
    try {
      const order = await merchantApi("POST", "/v1/merchant/orders/paycode", {
        auth_code: authCode, out_trade_no: saleNumber(`code|${authCode}|${value}|${what()}`),
        amount: value, subject: what(), store_id: session.store, terminal_id: session.terminal,
      });
      waitPage(order);
    } catch (failure) {
      error.textContent = failure.message;
      code.focus();
    } finally {
      busy(false);
    }
  });
  show(consoleHeader("till"), h("section", { class: "card" }, form));
}

// ---- the console: orders, takings, notifications, posters and settings ----------------------

function consoleHeader(current) {
  const tabs = [["till", "pos.tab.till", tillPage], ["orders", "pos.tab.orders", ordersPage], ["takings", "pos.tab.takings", takingsPage],
    session.scope === "till" ? null : ["webhooks", "pos.tab.notifications", webhooksPage],
    ["settings", "pos.tab.settings", settingsPage]].filter(Boolean);
  return [
    h("header", { class: "bar slim" }, h("h1", {}, `${session.name} · ${session.storeName}`),
      session.staffName ? h("p", { id: "staff-name" }, `${session.staffName} · ${roleName(session.scope === "manager" ? "manager" : "cashier")}`) : null,
      h("button", { class: "link light", type: "button", onclick: closeTill }, session.staffName ? t("pos.sign_out") : t("pos.close_till"))),
    h("nav", { class: "tabs", "aria-label": t("pos.console") }, tabs.map(([id, label, page]) =>
      h("button", { type: "button", class: id === current ? "tab current" : "tab", "aria-current": id === current ? "page" : false,
        onclick: () => Promise.resolve(page()).catch((failure) => failedPage(id, failure)) }, t(label)))),
  ];
}

/** A console page that could not be shown says why, in words. */
function failedPage(current, failure) {
  if (!session) return;
  show(consoleHeader(current), h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, failure.message)));
}

const STATUSES = ["WAIT_BUYER_PAY", "USERPAYING", "SUCCESS", "CLOSED", "FINISHED"];
const statusName = (status) => (I18n.has(`pos.status.${status}`) ? t(`pos.status.${status}`) : status);

/** Whether an order can still be refunded (in part): paid, and not all of it back yet. */
const refundable = (order) => order.status === "SUCCESS" && order.refunded.amount !== order.amount.amount;

function ordersPage() {
  redraw = ordersPage;
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, t("pos.orders.any_status")),
    STATUSES.map((value) => h("option", { value }, statusName(value))));
  const day = h("input", { id: "filter-day", type: "date" });
  const q = h("input", { id: "filter-q", placeholder: t("pos.orders.search_placeholder"), autocomplete: "off" });
  const body = h("tbody", {});
  const error = h("p", { class: "error", role: "alert" });
  const more = h("button", { class: "link", type: "button", hidden: true }, t("pos.orders.older"));
  let cursor = null;
  const load = async (fresh) => {
    error.textContent = "";
    if (fresh) { body.replaceChildren(); cursor = null; }
    const params = new URLSearchParams();
    if (status.value) params.set("status", status.value);
    if (day.value) params.set("day", day.value);
    if (q.value.trim()) params.set("q", q.value.trim());
    if (cursor) params.set("cursor", cursor);
    params.set("limit", "20");
    try {
      const page = await merchantApi("GET", `/v1/merchant/orders?${params}`);
      for (const order of page.orders) {
        // Any refundable order is refunded from here, not only the receipt after the sale.
        const action = refundable(order) && session.scope !== "till"
          ? h("button", { class: "link", type: "button", "aria-label": t("pos.orders.refund_order", { no: order.out_trade_no }),
            onclick: () => receiptPage(order, "orders") }, t("pos.refund"))
          : "";
        body.append(h("tr", {},
          h("td", { class: "mono" }, order.out_trade_no),
          h("td", {}, statusName(order.status)),
          h("td", { class: "num" }, money(order.amount)),
          h("td", { class: "num" }, order.refunded.amount === "0.00" ? "" : I18n.amount(`-${order.refunded.amount}`)),
          h("td", {}, order.buyer || ""),
          h("td", {}, I18n.dateTime(order.created_at)),
          h("td", {}, action)));
      }
      if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "7", class: "empty" }, t("pos.orders.none"))));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  const filters = h("form", { class: "filters", novalidate: true },
    h("label", { for: "filter-status" }, t("pos.orders.status")), status,
    h("label", { for: "filter-day" }, t("pos.orders.day")), day,
    h("label", { for: "filter-q" }, t("pos.orders.search")), q,
    h("button", { class: "primary", type: "submit" }, t("pos.orders.show")));
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
  more.addEventListener("click", () => load(false));
  const columns = ["pos.orders.order", "pos.orders.status", "pos.orders.amount", "pos.orders.refunded", "pos.orders.customer",
    "pos.orders.created", "pos.orders.action"];
  show(consoleHeader("orders"),
    h("section", { class: "card" }, filters, error,
      h("table", { class: "orders", id: "orders" },
        h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col" }, t(key))))),
        body),
      more));
  load(true);
}

function takingsPage() {
  redraw = takingsPage;
  const day = h("input", { id: "takings-day", type: "date" });
  const figures = h("dl", { class: "figures", id: "takings" });
  const error = h("p", { class: "error", role: "alert" });
  const load = async () => {
    error.textContent = "";
    try {
      const takings = await merchantApi("GET", `/v1/merchant/takings${day.value ? `?day=${day.value}` : ""}`);
      figures.replaceChildren(
        h("dt", {}, t("pos.takings.day")), h("dd", {}, I18n.day(takings.day)),
        h("dt", {}, t("pos.takings.paid_orders")), h("dd", {}, I18n.number(takings.paid_orders)),
        h("dt", {}, t("pos.takings.gross")), h("dd", {}, money(takings.gross)),
        h("dt", {}, t("pos.takings.refunds", { count: takings.refund_count, n: I18n.number(takings.refund_count) })), h("dd", {}, money(takings.refunds)),
        h("dt", {}, t("pos.takings.fees")), h("dd", {}, money(takings.fees)),
        h("dt", {}, t("pos.takings.net")), h("dd", { class: "net" }, money(takings.net)));
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  day.addEventListener("change", load);
  show(consoleHeader("takings"),
    h("section", { class: "card" }, h("label", { for: "takings-day" }, t("pos.takings.pick_day")), day, error, figures));
  load();
}

/** A notification's delivery in words; one waiting only because there is no notify URL says
 * so (not "failed · 0 attempts"). */
function deliveryName(event, urlSet) {
  const waiting = event.delivery === "no_notify_url" || (!urlSet && event.delivery !== "delivered" && event.attempts === 0);
  return waiting ? t("pos.events.no_url") : I18n.has(`pos.events.${event.delivery}`) ? t(`pos.events.${event.delivery}`) : event.delivery;
}

function webhooksPage() {
  redraw = webhooksPage;
  const list = h("tbody", {});
  const error = h("p", { class: "error", role: "alert" });
  const notice = h("div", { id: "no-notify-url" });
  const load = async () => {
    error.textContent = "";
    try {
      const params = new URLSearchParams({ limit: "100", order: "newest" });
      if (delivery.value) params.set("delivery", delivery.value);
      const answer = await merchantApi("GET", `/v1/merchant/events?${params}`);
      // Older servers do not say whether a URL is set: the profile does.
      const urlSet = typeof answer.notify_url_set === "boolean" ? answer.notify_url_set
        : Boolean((await merchantApi("GET", "/v1/merchant/profile")).notify_url);
      noUrlOption.hidden = typeof answer.notify_url_set !== "boolean";
      notice.replaceChildren(urlSet ? "" : h("p", { class: "card notice", role: "status" },
        t("pos.events.no_url_notice"), " ",
        session.scope === "full"
          ? h("button", { class: "link", type: "button", id: "set-notify-url", onclick: () => settingsPage().catch((failure) => failedPage("settings", failure)) }, t("pos.events.set_url"))
          : t("pos.events.ask_owner")));
      const { events } = answer;
      list.replaceChildren(...events.map((event) => h("tr", {},
        h("td", {}, I18n.has(`pos.event.${event.type}`) ? t(`pos.event.${event.type}`) : event.type),
        h("td", { class: "mono" }, event.payload && event.payload.data && event.payload.data.order ? event.payload.data.order.out_trade_no : ""),
        h("td", {}, deliveryName(event, urlSet)),
        h("td", { class: "num" }, I18n.number(event.attempts)),
        h("td", {}, event.last_error || ""),
        // Retrying needs somewhere to send it.
        h("td", {}, event.delivery === "delivered" || session.scope === "till" || !urlSet ? "" : h("button", { class: "link", type: "button", onclick: async () => {
          try { await merchantApi("POST", `/v1/merchant/events/${encodeURIComponent(event.id)}/retry`); load(); } catch (failure) { error.textContent = failure.message; }
        } }, t("pos.events.retry"))))));
      if (!events.length) list.append(h("tr", {}, h("td", { colspan: "6", class: "empty" }, t("pos.events.none"))));
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  const noUrlOption = h("option", { value: "no_notify_url", hidden: true }, t("pos.events.no_url"));
  const delivery = h("select", { id: "delivery-filter", onchange: () => load() },
    h("option", { value: "" }, t("pos.events.all")), h("option", { value: "failed" }, t("pos.events.failed")),
    h("option", { value: "pending" }, t("pos.events.pending")), h("option", { value: "delivered" }, t("pos.events.delivered")),
    noUrlOption);
  const columns = ["pos.events.event", "pos.events.order", "pos.events.delivery", "pos.events.attempts", "pos.events.last_error", "pos.events.action"];
  show(consoleHeader("webhooks"),
    notice,
    h("section", { class: "card" }, h("label", { for: "delivery-filter" }, t("pos.events.show")), delivery, error,
      h("table", { class: "orders", id: "events" },
        h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col" }, t(key))))),
        list)));
  load();
}

async function settingsPage() {
  redraw = settingsPage;
  const error = h("p", { class: "error", role: "alert", id: "notify-error" });
  const saved = h("p", { class: "hint", role: "status" });
  const profile = await merchantApi("GET", "/v1/merchant/profile");
  const url = h("input", { id: "notify-url", type: "url", value: profile.notify_url || "", placeholder: "https://shop.example.com/cashless/notify" });
  const form = h("form", { novalidate: true }, h("label", { for: "notify-url" }, t("pos.settings.notify_url")), url, error, saved,
    h("button", { class: "primary", type: "submit" }, t("pos.settings.save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    saved.textContent = "";
    try {
      await merchantApi("PUT", "/v1/merchant/notify-url", { notify_url: url.value.trim() });
      saved.textContent = t("pos.settings.saved");
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  const posters = h("div", { class: "posters" });
  for (const store of profile.stores) {
    const picture = async (format) => {
      const path = `/v1/merchant/qr?store_id=${encodeURIComponent(store.id)}&format=${format}`;
      return URL.createObjectURL(await (await merchantFetch("GET", path)).blob());
    };
    const [svg, png] = [await picture("svg"), await picture("png")];
    posters.append(h("figure", { class: "poster" },
      h("img", { src: svg, alt: t("pos.settings.poster_alt", { store: store.name }) }),
      h("figcaption", {}, h("strong", {}, `${profile.display_name} · ${store.name}`), h("span", {}, t("pos.settings.scan_to_pay"))),
      h("a", { href: svg, download: `cashless-${store.name}.svg` }, t("pos.settings.download_svg")),
      h("a", { href: png, download: `cashless-${store.name}.png` }, t("pos.settings.download_png"))));
  }
  // A key for a till, made here: the secret is shown once, and only this browser ever had it.
  const tillOut = h("div", { id: "till-key" });
  const tillError = h("p", { class: "error", role: "alert" });
  const makeTill = h("button", { class: "primary secondary", type: "button", id: "new-till-key" }, t("pos.settings.make_till_key"));
  makeTill.addEventListener("click", async () => {
    tillError.textContent = "";
    try {
      const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
      const publicKey = hex(await crypto.subtle.exportKey("raw", pair.publicKey));
      const seed = hex(await crypto.subtle.exportKey("pkcs8", pair.privateKey)).slice(-64);
      const key = await merchantApi("POST", "/v1/merchant/till-keys", { public_key: publicKey });
      tillOut.replaceChildren(
        h("p", { class: "hint" }, t("pos.settings.till_key_once")),
        h("dl", { class: "figures" },
          h("dt", {}, t("pos.merchant_id")), h("dd", { class: "mono", id: "till-merchant" }, session.merchantId),
          h("dt", {}, t("pos.key_id")), h("dd", { class: "mono", id: "till-key-id" }, key.id),
          h("dt", {}, t("pos.settings.secret_key")), h("dd", { class: "mono", id: "till-secret" }, seed)));
    } catch (failure) {
      tillError.textContent = failure.message;
    }
  });
  const keysError = h("p", { class: "error", role: "alert", id: "keys-error" });
  if (session.scope !== "full") {
    show(consoleHeader("settings"),
      h("section", { class: "card" }, h("h2", {}, t("pos.settings.posters")), posters),
      h("p", { class: "card hint" }, t("pos.settings.full_key_only")));
    return;
  }
  show(consoleHeader("settings"),
    h("section", { class: "card" }, h("h2", {}, t("pos.settings.posters")), posters),
    await staffSection(),
    h("section", { class: "card" }, h("h2", {}, t("pos.settings.tills")),
      h("p", { class: "hint" }, t("pos.settings.till_key_can")),
      makeTill, tillError, tillOut),
    h("section", { class: "card" }, h("h2", {}, t("pos.settings.notifications")), form),
    h("section", { class: "card" }, h("h2", {}, t("pos.settings.keys")), keysError,
      h("ul", { class: "steps", id: "keys-list" }, profile.keys.map((key) => h("li", { class: "row" },
        h("span", {}, h("span", { class: "mono" }, t("pos.settings.key_line", {
          id: key.id,
          scope: t(key.scope === "till" ? "pos.settings.key_till" : "pos.settings.key_full"),
          state: key.expires_at ? t("pos.settings.key_retiring", { when: I18n.dateTime(key.expires_at) }) : t("pos.settings.key_current"),
        })), key.scope === "till" ? grantNote(key.granted_by) : null),
        key.scope === "till"
          ? grantButton(key.granted_by, t("pos.grant.confirm_named", { name: key.id }),
            `/v1/merchant/till-keys/${encodeURIComponent(key.id)}/confirm`, keysError, () => settingsPage())
          : null)))));
}

/** Whether a grant (a staff member, a till key) stands on another key than the one this
 * console signs with: revoking that key would remove it, unless this key confirms it. */
const grantedElsewhere = (grantedBy) => Boolean(session.keyId && session.scope === "full" && grantedBy && grantedBy !== session.keyId);

/** What a grant made with another key means, under its line. */
function grantNote(grantedBy) {
  return grantedElsewhere(grantedBy) ? h("small", { class: "grant" }, t("pos.grant.other_key", { key: grantedBy })) : null;
}

/** "Confirm with this key" for a grant made with another key: this key then stands behind it. */
function grantButton(grantedBy, label, path, error, reload) {
  if (!grantedElsewhere(grantedBy)) return null;
  return h("button", { class: "link", type: "button", "aria-label": label, onclick: async () => {
    error.textContent = "";
    try {
      await merchantApi("POST", path);
      await reload();
    } catch (failure) {
      error.textContent = failure.message;
    }
  } }, t("pos.grant.confirm"));
}

/** Cashiers and managers: who may sign in to the merchant's tills with their phone. */
async function staffSection() {
  const list = h("ul", { class: "steps", id: "staff-list" });
  const error = h("p", { class: "error", role: "alert", id: "new-staff-error" });
  const load = async () => {
    const { staff } = await merchantApi("GET", "/v1/merchant/staff");
    list.replaceChildren(...staff.map((person) => h("li", { class: "row" },
      h("span", {}, h("strong", {}, person.name), ` ${person.phone} · ${roleName(person.role)}`,
        grantNote(person.granted_by)),
      h("span", { class: "actions-inline" },
        grantButton(person.granted_by, t("pos.grant.confirm_named", { name: person.name }),
          `/v1/merchant/staff/${encodeURIComponent(person.id)}/confirm`, error, load),
        h("button", { class: "link", type: "button", "aria-label": t("pos.staff.remove_named", { name: person.name }), onclick: async () => {
          error.textContent = "";
          try { await merchantApi("DELETE", `/v1/merchant/staff/${encodeURIComponent(person.id)}`); await load(); } catch (failure) { error.textContent = failure.message; }
        } }, t("pos.staff.remove"))))));
    if (!staff.length) list.append(h("li", { class: "empty" }, t("pos.staff.none")));
  };
  const phoneNote = h("p", { class: "hint", id: "new-staff-phone-hint", role: "status" });
  const phone = h("input", { id: "new-staff-phone", type: "tel", autocomplete: "off", "aria-describedby": "new-staff-phone-hint new-staff-error" });
  phone.addEventListener("input", () => { phoneNote.textContent = phoneHint(phone.value) || ""; });
  const name = h("input", { id: "new-staff-name", autocomplete: "off", maxlength: "32", "aria-describedby": "new-staff-error" });
  const role = h("select", { id: "new-staff-role" }, h("option", { value: "cashier" }, t("pos.staff.cashier_can")),
    h("option", { value: "manager" }, t("pos.staff.manager_can")));
  const form = h("form", { novalidate: true, class: "inline" },
    h("label", { for: "new-staff-name" }, t("pos.staff.name")), name,
    h("label", { for: "new-staff-phone" }, t("pos.staff.phone")), phone, phoneNote,
    h("label", { for: "new-staff-role" }, t("pos.staff.role")), role, error,
    h("button", { class: "primary secondary", type: "submit" }, t("pos.staff.add")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await merchantApi("POST", "/v1/merchant/staff", { phone: phone.value.trim(), name: name.value.trim(), role: role.value });
      phone.value = "";
      name.value = "";
      phoneNote.textContent = "";
      await load();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  await load();
  return h("section", { class: "card", "aria-labelledby": "staff-title" }, h("h2", { id: "staff-title" }, t("pos.staff.title")), list, form);
}

/** The order until it is paid (or closed): a QR to show, or the customer confirming. */
function waitPage(order) {
  redraw = () => waitPage(order);
  const status = h("p", { class: "hint", role: "status", id: "order-status" });
  const figure = order.qr_code ? h("div", { class: "paycode", id: "order-qr" }, QR.svg(order.qr_code, t("pos.wait.qr_label"))) : null;
  const cancel = h("button", { class: "link", type: "button" }, t("pos.wait.cancel"));
  let done = false;
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      // Close, never cancel: cancelling a paid order would refund it behind the cashier's back.
      await merchantApi("POST", `/v1/merchant/orders/${encodeURIComponent(order.out_trade_no)}/close`);
      done = true;
      tillPage();
    } catch (failure) {
      cancel.disabled = false;
      if (failure.code === "order_paid" || failure.code === "order_already_paid") {
        done = true;
        try {
          receiptPage(await merchantApi("GET", `/v1/merchant/orders/${encodeURIComponent(order.out_trade_no)}`));
        } catch (again) {
          status.textContent = again.message;
        }
      } else {
        status.textContent = `${failure.message} ${t("pos.wait.still_open")}`;
      }
    }
  });
  const describe = (current) => {
    status.textContent = current.status === "USERPAYING" ? t("pos.wait.confirming") : t("pos.wait.scanning");
  };
  describe(order);
  show(
    h("header", { class: "bar slim" }, h("h1", {}, t("pos.wait.title"))),
    h("section", { class: "card center", "aria-labelledby": "due-title" },
      h("p", { class: "balance-label", id: "due-title" }, order.subject),
      h("p", { class: "balance", id: "due" }, I18n.amount(order.amount.amount), " ", h("small", {}, I18n.currency(order.amount.currency))),
      figure, status, cancel));
  // Leaving this view (another sale, a sign-out) ends the watch: it must never switch someone
  // else's screen to this order's receipt.
  onLeave(() => { done = true; });
  const poll = async () => {
    if (done || !session) return;
    try {
      const current = await merchantApi("GET", `/v1/merchant/orders/${encodeURIComponent(order.out_trade_no)}`);
      if (done) return;
      if (current.status === "SUCCESS") return receiptPage(current);
      if (current.status === "CLOSED") {
        status.textContent = t("pos.wait.closed");
        return;
      }
      describe(current);
      if (Date.parse(current.expires_at) < Date.now() && current.status === "WAIT_BUYER_PAY") {
        status.textContent = t("pos.wait.expired");
        return;
      }
      failures = 0;
    } catch (failure) {
      if (done) return;
      status.textContent = failure.message;
      failures++;
      if (failures >= 30) return; // the connection or the key is gone: stop asking
    }
    setTimeout(poll, 1000 * Math.min(8, 2 ** Math.floor(failures / 3)));
  };
  let failures = 0;
  if (order.status === "SUCCESS") receiptPage(order);
  else setTimeout(poll, 1000);
}

/** A paid order with its refund form: after the sale (`from` "till"), or any refundable order
 * picked from the console's list (`from` "orders"). */
function receiptPage(order, from = "till") {
  redraw = () => receiptPage(order, from);
  const error = h("p", { class: "error", role: "alert", id: "refund-error" });
  const left = decimal(minorUnits(order.amount.amount) - minorUnits(order.refunded.amount));
  const refundAmount = h("input", { id: "refund-amount", inputmode: "decimal", value: left, autocomplete: "off", "aria-describedby": "refund-error" });
  const refund = h("button", { class: "primary secondary", type: "submit", id: "refund" }, t("pos.refund"));
  const refundedLine = (value) => (value.amount !== "0.00" ? t("pos.receipt.refunded", { amount: money(value) }) : "");
  const refunded = h("p", { class: "hint", id: "refunded", role: "status" }, refundedLine(order.refunded));
  const feeLine = h("dd", { id: "fee" }, money(order.fee));
  const form = h("form", { novalidate: true, hidden: !refundable(order) },
    h("label", { for: "refund-amount" }, t("pos.receipt.refund_amount")), refundAmount, error, refund);
  // One refund number per refund the cashier means: a double tap or a retry is the same
  // refund. After one succeeds, the next refund gets a new number.
  let requestNo = null;
  let requestAmount = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const wanted = refundAmount.value.trim();
    if (minorUnits(wanted) === null || minorUnits(wanted) === 0n) {
      error.textContent = t("pos.amount_shape");
      refundAmount.focus();
      return;
    }
    if (!requestNo || requestAmount !== wanted) {
      requestNo = `R-${Date.now().toString(36)}-${hex(crypto.getRandomValues(new Uint8Array(3)))}`;
      requestAmount = wanted;
    }
    refund.disabled = true;
    try {
      const answer = await merchantApi("POST", `/v1/merchant/orders/${encodeURIComponent(order.out_trade_no)}/refunds`, {
        out_request_no: requestNo, amount: wanted, reason: t("pos.receipt.refund_reason"),
      });
      order = answer.order;
      refunded.textContent = refundedLine(order.refunded);
      // Refunds give back their share of the fee: show what the order still costs.
      feeLine.textContent = money(order.fee);
      requestNo = null;
      // Nothing left to refund: the form goes; otherwise it offers what is left.
      if (!refundable(order)) form.hidden = true;
      else refundAmount.value = decimal(minorUnits(order.amount.amount) - minorUnits(order.refunded.amount));
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      refund.disabled = false;
    }
  });
  const fromList = from === "orders";
  show(
    h("header", { class: "bar slim" }, h("h1", {}, fromList ? t("pos.receipt.order_title", { no: order.out_trade_no }) : t("pos.receipt.title"))),
    h("section", { class: "card center receipt", "aria-labelledby": "paid-title" },
      h("p", { class: "tick", "aria-hidden": "true" }, "✓"),
      h("h2", { id: "paid-title" }, fromList ? statusName(order.status) : t("pos.receipt.received")),
      h("p", { class: "balance", id: "paid-amount" }, I18n.amount(order.amount.amount), " ", h("small", {}, I18n.currency(order.amount.currency))),
      h("dl", {},
        h("dt", {}, t("pos.receipt.order")), h("dd", { class: "mono" }, order.out_trade_no),
        h("dt", {}, t("pos.receipt.customer")), h("dd", {}, order.buyer || "—"),
        h("dt", {}, t("pos.receipt.fee")), feeLine),
      refunded),
    h("section", { class: "card" }, session.scope === "till"
      ? h("p", { class: "hint" }, t("pos.receipt.ask_manager"))
      : form),
    h("div", { class: "footer" }, fromList
      ? h("button", { class: "primary", type: "button", id: "back-to-orders", onclick: ordersPage }, t("pos.receipt.back_to_orders"))
      : h("button", { class: "primary", type: "button", id: "next-sale", onclick: tillPage }, t("pos.receipt.next_sale"))));
}

I18n.page("title.pos", () => Promise.resolve(redraw ? redraw() : signInPage()).catch((failure) => failedPage("till", failure)));
signInPage();
