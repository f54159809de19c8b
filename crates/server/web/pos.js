// Cashless POS: a cashier's tablet page. Staff sign in with their phone and a texted code (the
// merchant adds them in the console): the session's token goes with each request, and the
// role decides what the till offers (a cashier takes payments; a manager also refunds).
// Or the till is opened with a key: the merchant's Ed25519 key — in memory only, as a
// non-extractable WebCrypto key: a reload asks for it again — signs every merchant API
// request in the browser, exactly as a server integration would. Best a till key (made in the
// console): it takes payments and looks them up, but cannot refund or change settings.
"use strict";


// { merchantId, name, scope: "full" | "manager" | "till", stores, store, terminal, storeName,
//   and either keyId + key (a signing key) or staffToken + staffName (a staff session) }
let session = null;

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
    signInPage("Your session at the till has ended: sign in again.");
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
  const demo = await fetch("/v1/demo/merchants").then((r) => (r.ok ? r.json() : null)).catch(() => null);

  // Staff: phone, then the texted code.
  const staffError = h("p", { class: "error", role: "alert", id: "staff-error" });
  const phone = h("input", { id: "staff-phone", type: "tel", autocomplete: "tel", autofocus: true, "aria-describedby": "staff-error" });
  const code = h("input", { id: "staff-code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", "aria-describedby": "staff-error" });
  const codeStep = h("div", { hidden: true }, h("label", { for: "staff-code" }, "Code from the text message"), code,
    h("p", { class: "demo", id: "staff-demo-code", hidden: true }));
  const sendCode = h("button", { class: "primary", type: "submit", id: "send-staff-code" }, "Send code");
  const staffForm = h("form", { novalidate: true },
    h("label", { for: "staff-phone" }, "Your mobile number"), phone, codeStep, staffError, sendCode);
  // Another number needs its own code.
  phone.addEventListener("input", () => {
    if (codeStep.hidden) return;
    codeStep.hidden = true;
    code.value = "";
    sendCode.textContent = "Send code";
  });
  staffForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    staffError.textContent = "";
    try {
      if (codeStep.hidden) {
        const sent = await publicApi("POST", "/v1/staff/sms-codes", { phone: phone.value.trim() });
        codeStep.hidden = false;
        sendCode.textContent = "Sign in";
        const demoLine = codeStep.querySelector("#staff-demo-code");
        if (sent.demo_code) {
          demoLine.hidden = false;
          demoLine.replaceChildren("Demo mode: the text message says ", h("code", {}, sent.demo_code));
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
    h("label", { for: "merchant-id" }, "Merchant id"), merchant,
    h("label", { for: "key-id" }, "Key id"), keyId,
    h("label", { for: "secret-key" }, "Secret key (64 hex digits, stays on this device)"), secret,
    error,
    h("button", { class: "primary secondary", type: "submit" }, "Open the till with the key"));
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
    h("h2", { id: "demo-title" }, "Demo city"),
    (demo.staff || []).length ? [h("p", { class: "hint" }, "Staff: sign in with their phone (the code shows on this page)"),
      h("ul", { class: "steps" }, demo.staff.map((person) => h("li", {},
        h("button", { type: "button", class: "pick", onclick: () => { phone.value = person.phone; sendCode.focus(); } },
          h("strong", {}, `${person.name} · ${person.role}`), h("span", {}, `${person.merchant} · ${person.phone}`)))))] : null,
    h("p", { class: "hint" }, "Or open a merchant's till with its key:"),
    h("ul", { class: "steps" }, demo.merchants.map((m) => h("li", {},
      h("button", { type: "button", class: "pick", onclick: () => {
        merchant.value = m.id;
        keyId.value = m.key_id;
        secret.value = m.secret_key;
        form.requestSubmit();
      } }, h("strong", {}, `${m.display_name} · ${m.chinese_name}`), h("span", {}, m.kind))))));
  show(
    h("header", { class: "bar" }, h("h1", {}, "Cashless POS"), h("p", {}, "Take payments at the till")),
    notice ? h("p", { class: "card notice", role: "status" }, notice) : null,
    h("section", { class: "card lift", "aria-labelledby": "staff-title" }, h("h2", { id: "staff-title" }, "Staff sign-in"), staffForm),
    h("section", { class: "card", "aria-labelledby": "till-title" }, h("h2", { id: "till-title" }, "Open with a key"), form),
    picker);
}

async function open({ merchantId, keyId, secret }) {
  session = { merchantId, keyId, key: await importEd25519Seed(secret, "The secret key is 64 hex digits.") };
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

function tillPage() {
  const error = h("p", { class: "error", role: "alert", id: "amount-error" });
  const amount = h("input", { id: "sale-amount", inputmode: "decimal", placeholder: "0.00", autocomplete: "off", autofocus: true, "aria-describedby": "amount-error" });
  const subject = h("input", { id: "sale-subject", value: "Sale", autocomplete: "off" });
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
  const busy = (on) => { showQr.disabled = on; charge.disabled = on; };
  const showQr = h("button", { class: "primary", type: "button", id: "show-qr" }, "Show QR to the customer");
  showQr.addEventListener("click", async () => {
    error.textContent = "";
    busy(true);
    try {
      const order = await merchantApi("POST", "/v1/merchant/orders", {
        out_trade_no: saleNumber(`qr|${amount.value.trim()}|${subject.value.trim()}`), amount: amount.value.trim(),
        subject: subject.value.trim() || "Sale", store_id: session.store, terminal_id: session.terminal, expires_in_secs: 900,
      });
      waitPage(order);
    } catch (failure) {
      error.textContent = failure.message;
      amount.focus();
    } finally {
      busy(false);
    }
  });
  const charge = h("button", { class: "primary secondary", type: "submit", id: "charge-code" }, "Charge the customer's code");
  // The till's camera reads the customer's code, for tills without a barcode scanner.
  const camera = h("video", { id: "till-camera", class: "camera", hidden: true, muted: true, playsinline: true,
    "aria-label": "Camera: hold the customer's payment code up to it" });
  const cameraNote = h("p", { class: "hint", id: "till-camera-note", role: "status" });
  const scanButton = h("button", { class: "link", type: "button", id: "scan-customer-code" }, "Scan it with the camera");
  scanButton.addEventListener("click", () => {
    scanButton.hidden = true;
    watchCamera(camera, cameraNote, async (found) => {
      try {
        const text = found.text !== undefined ? found.text
          : (await merchantApi("POST", "/v1/merchant/scan-image?live=true", found.still)).text;
        const digits = text.replace(/\s/g, "");
        if (!/^\d{18}$/.test(digits)) {
          error.textContent = "That is not a payment code: ask the customer to open Pay in the app.";
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
    store ? [h("label", { for: "till-store" }, "Store"), store] : null,
    h("label", { for: "sale-amount" }, "Amount (CNY)"), amount,
    h("label", { for: "sale-subject" }, "What for"), subject,
    error, showQr,
    h("label", { for: "customer-code" }, "Or scan (or type) the customer's payment code"), code,
    h("div", { class: "camera-row" }, camera, cameraNote, scanButton), charge);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    busy(true);
    const authCode = code.value.replace(/\s/g, "");
    try {
      const order = await merchantApi("POST", "/v1/merchant/orders/paycode", {
        auth_code: authCode, out_trade_no: saleNumber(`code|${authCode}|${amount.value.trim()}|${subject.value.trim()}`),
        amount: amount.value.trim(), subject: subject.value.trim() || "Sale", store_id: session.store, terminal_id: session.terminal,
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
  const tabs = [["till", "Till", tillPage], ["orders", "Orders", ordersPage], ["takings", "Takings", takingsPage],
    session.scope === "till" ? null : ["webhooks", "Notifications", webhooksPage],
    ["settings", "Posters & settings", settingsPage]].filter(Boolean);
  return [
    h("header", { class: "bar slim" }, h("h1", {}, `${session.name} · ${session.storeName}`),
      session.staffName ? h("p", { id: "staff-name" }, `${session.staffName} · ${session.scope === "manager" ? "manager" : "cashier"}`) : null,
      h("button", { class: "link light", type: "button", onclick: closeTill }, session.staffName ? "Sign out" : "Close till")),
    h("nav", { class: "tabs", "aria-label": "Console" }, tabs.map(([id, label, page]) =>
      h("button", { type: "button", class: id === current ? "tab current" : "tab", "aria-current": id === current ? "page" : false, onclick: page }, label))),
  ];
}

const STATUS_NAMES = { WAIT_BUYER_PAY: "Waiting", USERPAYING: "Confirming", SUCCESS: "Paid", CLOSED: "Closed", FINISHED: "Finished" };

function ordersPage() {
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "Any status"),
    Object.entries(STATUS_NAMES).map(([value, label]) => h("option", { value }, label)));
  const day = h("input", { id: "filter-day", type: "date" });
  const q = h("input", { id: "filter-q", placeholder: "Order number starts with…", autocomplete: "off" });
  const body = h("tbody", {});
  const error = h("p", { class: "error", role: "alert" });
  const more = h("button", { class: "link", type: "button", hidden: true }, "Older orders");
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
        body.append(h("tr", {},
          h("td", { class: "mono" }, order.out_trade_no),
          h("td", {}, STATUS_NAMES[order.status] || order.status),
          h("td", { class: "num" }, `${grouped(order.amount.amount)} ${order.amount.currency}`),
          h("td", { class: "num" }, order.refunded.amount === "0.00" ? "" : `−${grouped(order.refunded.amount)}`),
          h("td", {}, order.buyer || ""),
          h("td", {}, new Date(order.created_at).toLocaleString())));
      }
      if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "6", class: "empty" }, "No orders match.")));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  const filters = h("form", { class: "filters", novalidate: true },
    h("label", { for: "filter-status" }, "Status"), status,
    h("label", { for: "filter-day" }, "Day"), day,
    h("label", { for: "filter-q" }, "Search"), q,
    h("button", { class: "primary", type: "submit" }, "Show"));
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
  more.addEventListener("click", () => load(false));
  show(consoleHeader("orders"),
    h("section", { class: "card" }, filters, error,
      h("table", { class: "orders", id: "orders" },
        h("thead", {}, h("tr", {}, ["Order", "Status", "Amount", "Refunded", "Customer", "Created"].map((t) => h("th", { scope: "col" }, t)))),
        body),
      more));
  load(true);
}

function takingsPage() {
  const day = h("input", { id: "takings-day", type: "date" });
  const figures = h("dl", { class: "figures", id: "takings" });
  const error = h("p", { class: "error", role: "alert" });
  const load = async () => {
    error.textContent = "";
    try {
      const t = await merchantApi("GET", `/v1/merchant/takings${day.value ? `?day=${day.value}` : ""}`);
      const money = (a) => `${grouped(a.amount)} ${a.currency}`;
      figures.replaceChildren(
        h("dt", {}, "Day"), h("dd", {}, t.day),
        h("dt", {}, "Orders paid"), h("dd", {}, String(t.paid_orders)),
        h("dt", {}, "Gross"), h("dd", {}, money(t.gross)),
        h("dt", {}, `Refunds (${t.refund_count})`), h("dd", {}, money(t.refunds)),
        h("dt", {}, "Platform fees"), h("dd", {}, money(t.fees)),
        h("dt", {}, "Net"), h("dd", { class: "net" }, money(t.net)));
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  day.addEventListener("change", load);
  show(consoleHeader("takings"),
    h("section", { class: "card" }, h("label", { for: "takings-day" }, "Day (today if empty)"), day, error, figures));
  load();
}

function webhooksPage() {
  const list = h("tbody", {});
  const error = h("p", { class: "error", role: "alert" });
  const load = async () => {
    error.textContent = "";
    try {
      const params = new URLSearchParams({ limit: "100", order: "newest" });
      if (delivery.value) params.set("delivery", delivery.value);
      const { events } = await merchantApi("GET", `/v1/merchant/events?${params}`);
      list.replaceChildren(...events.map((event) => h("tr", {},
        h("td", {}, event.type),
        h("td", { class: "mono" }, event.payload && event.payload.data && event.payload.data.order ? event.payload.data.order.out_trade_no : ""),
        h("td", {}, event.delivery),
        h("td", { class: "num" }, String(event.attempts)),
        h("td", {}, event.last_error || ""),
        h("td", {}, event.delivery === "delivered" || session.scope === "till" ? "" : h("button", { class: "link", type: "button", onclick: async () => {
          try { await merchantApi("POST", `/v1/merchant/events/${encodeURIComponent(event.id)}/retry`); load(); } catch (failure) { error.textContent = failure.message; }
        } }, "Retry now")))));
      if (!events.length) list.append(h("tr", {}, h("td", { colspan: "6", class: "empty" }, "No notifications yet.")));
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  const delivery = h("select", { id: "delivery-filter", onchange: () => load() },
    h("option", { value: "" }, "All"), h("option", { value: "failed" }, "Failed"),
    h("option", { value: "pending" }, "Pending"), h("option", { value: "delivered" }, "Delivered"));
  show(consoleHeader("webhooks"),
    h("section", { class: "card" }, h("label", { for: "delivery-filter" }, "Show (newest first)"), delivery, error,
      h("table", { class: "orders", id: "events" },
        h("thead", {}, h("tr", {}, ["Event", "Order", "Delivery", "Attempts", "Last error", "Action"].map((t) => h("th", { scope: "col" }, t)))),
        list)));
  load();
}

async function settingsPage() {
  const error = h("p", { class: "error", role: "alert", id: "notify-error" });
  const saved = h("p", { class: "hint", role: "status" });
  const profile = await merchantApi("GET", "/v1/merchant/profile");
  const url = h("input", { id: "notify-url", type: "url", value: profile.notify_url || "", placeholder: "https://shop.example.com/cashless/notify" });
  const form = h("form", { novalidate: true }, h("label", { for: "notify-url" }, "Notify URL (signed webhooks are POSTed here)"), url, error, saved,
    h("button", { class: "primary", type: "submit" }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    saved.textContent = "";
    try {
      await merchantApi("PUT", "/v1/merchant/notify-url", { notify_url: url.value.trim() });
      saved.textContent = "Saved.";
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
      h("img", { src: svg, alt: `QR code poster of ${store.name}` }),
      h("figcaption", {}, h("strong", {}, `${profile.display_name} · ${store.name}`), h("span", {}, "Scan to pay with Cashless")),
      h("a", { href: svg, download: `cashless-${store.name}.svg` }, "Download SVG to print"),
      h("a", { href: png, download: `cashless-${store.name}.png` }, "Download PNG")));
  }
  // A key for a till, made here: the secret is shown once, and only this browser ever had it.
  const tillOut = h("div", { id: "till-key" });
  const tillError = h("p", { class: "error", role: "alert" });
  const makeTill = h("button", { class: "primary secondary", type: "button", id: "new-till-key" }, "Make a key for a till");
  makeTill.addEventListener("click", async () => {
    tillError.textContent = "";
    try {
      const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
      const publicKey = hex(await crypto.subtle.exportKey("raw", pair.publicKey));
      const seed = hex(await crypto.subtle.exportKey("pkcs8", pair.privateKey)).slice(-64);
      const key = await merchantApi("POST", "/v1/merchant/till-keys", { public_key: publicKey });
      tillOut.replaceChildren(
        h("p", { class: "hint" }, "Enter these on the till (the secret is shown only now):"),
        h("dl", { class: "figures" },
          h("dt", {}, "Merchant id"), h("dd", { class: "mono", id: "till-merchant" }, session.merchantId),
          h("dt", {}, "Key id"), h("dd", { class: "mono", id: "till-key-id" }, key.id),
          h("dt", {}, "Secret key"), h("dd", { class: "mono", id: "till-secret" }, seed)));
    } catch (failure) {
      tillError.textContent = failure.message;
    }
  });
  if (session.scope !== "full") {
    show(consoleHeader("settings"),
      h("section", { class: "card" }, h("h2", {}, "Store posters"), posters),
      h("p", { class: "card hint" }, "Staff, tills, keys and notifications are managed with the merchant's full key."));
    return;
  }
  show(consoleHeader("settings"),
    h("section", { class: "card" }, h("h2", {}, "Store posters"), posters),
    await staffSection(),
    h("section", { class: "card" }, h("h2", {}, "Tills"),
      h("p", { class: "hint" }, "A till key takes payments and looks them up; it cannot refund or change settings."),
      makeTill, tillError, tillOut),
    h("section", { class: "card" }, h("h2", {}, "Notifications"), form),
    h("section", { class: "card" }, h("h2", {}, "Signing keys"),
      h("ul", { class: "steps" }, profile.keys.map((key) => h("li", {},
        h("span", { class: "mono" }, `${key.id} — ${key.scope === "till" ? "till" : "full"}, ${key.expires_at ? `retiring ${new Date(key.expires_at).toLocaleString()}` : "current"}`))))));
}

/** Cashiers and managers: who may sign in to the merchant's tills with their phone. */
async function staffSection() {
  const list = h("ul", { class: "steps", id: "staff-list" });
  const error = h("p", { class: "error", role: "alert", id: "new-staff-error" });
  const load = async () => {
    const { staff } = await merchantApi("GET", "/v1/merchant/staff");
    list.replaceChildren(...staff.map((person) => h("li", { class: "row" },
      h("span", {}, h("strong", {}, person.name), ` ${person.phone} · ${person.role}`),
      h("button", { class: "link", type: "button", "aria-label": `Remove ${person.name}`, onclick: async () => {
        error.textContent = "";
        try { await merchantApi("DELETE", `/v1/merchant/staff/${encodeURIComponent(person.id)}`); await load(); } catch (failure) { error.textContent = failure.message; }
      } }, "Remove"))));
    if (!staff.length) list.append(h("li", { class: "empty" }, "No staff yet: add the people who work your tills."));
  };
  const phone = h("input", { id: "new-staff-phone", type: "tel", autocomplete: "off", "aria-describedby": "new-staff-error" });
  const name = h("input", { id: "new-staff-name", autocomplete: "off", maxlength: "32", "aria-describedby": "new-staff-error" });
  const role = h("select", { id: "new-staff-role" }, h("option", { value: "cashier" }, "Cashier: takes payments"),
    h("option", { value: "manager" }, "Manager: also refunds"));
  const form = h("form", { novalidate: true, class: "inline" },
    h("label", { for: "new-staff-name" }, "Name"), name,
    h("label", { for: "new-staff-phone" }, "Mobile number (they sign in with a texted code)"), phone,
    h("label", { for: "new-staff-role" }, "Role"), role, error,
    h("button", { class: "primary secondary", type: "submit" }, "Add to staff"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await merchantApi("POST", "/v1/merchant/staff", { phone: phone.value.trim(), name: name.value.trim(), role: role.value });
      phone.value = "";
      name.value = "";
      await load();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  await load();
  return h("section", { class: "card", "aria-labelledby": "staff-title" }, h("h2", { id: "staff-title" }, "Staff"), list, form);
}

/** The order until it is paid (or closed): a QR to show, or the customer confirming. */
function waitPage(order) {
  const status = h("p", { class: "hint", role: "status", id: "order-status" });
  const figure = order.qr_code ? h("div", { class: "paycode", id: "order-qr" }, QR.svg(order.qr_code, "Order QR code")) : null;
  const cancel = h("button", { class: "link", type: "button" }, "Cancel order");
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
        receiptPage(await merchantApi("GET", `/v1/merchant/orders/${encodeURIComponent(order.out_trade_no)}`));
      } else {
        status.textContent = `${failure.message} The order is still open.`;
      }
    }
  });
  const describe = (current) => {
    status.textContent = current.status === "USERPAYING"
      ? "Waiting for the customer to confirm with the PIN…"
      : "Waiting for the customer to scan and pay…";
  };
  describe(order);
  show(
    h("header", { class: "bar slim" }, h("h1", {}, "Collect payment")),
    h("section", { class: "card center", "aria-labelledby": "due-title" },
      h("p", { class: "balance-label", id: "due-title" }, order.subject),
      h("p", { class: "balance", id: "due" }, grouped(order.amount.amount), " ", h("small", {}, order.amount.currency)),
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
        status.textContent = "The order closed without payment.";
        return;
      }
      describe(current);
      if (Date.parse(current.expires_at) < Date.now() && current.status === "WAIT_BUYER_PAY") {
        status.textContent = "The order expired unpaid.";
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

function receiptPage(order) {
  const error = h("p", { class: "error", role: "alert", id: "refund-error" });
  const refundAmount = h("input", { id: "refund-amount", inputmode: "decimal", value: order.amount.amount, autocomplete: "off" });
  const refund = h("button", { class: "primary secondary", type: "submit", id: "refund" }, "Refund");
  const refunded = h("p", { class: "hint", id: "refunded", role: "status" },
    order.refunded.amount !== "0.00" ? `Refunded ${grouped(order.refunded.amount)} ${order.refunded.currency}` : "");
  const feeLine = h("dd", { id: "fee" }, `${grouped(order.fee.amount)} ${order.fee.currency}`);
  const form = h("form", { novalidate: true, hidden: order.refunded.amount === order.amount.amount },
    h("label", { for: "refund-amount" }, "Refund amount (CNY)"), refundAmount, error, refund);
  // One refund number per refund the cashier means: a double tap or a retry is the same
  // refund. After one succeeds, the next refund gets a new number.
  let requestNo = null;
  let requestAmount = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const wanted = refundAmount.value.trim();
    if (!requestNo || requestAmount !== wanted) {
      requestNo = `R-${Date.now().toString(36)}-${hex(crypto.getRandomValues(new Uint8Array(3)))}`;
      requestAmount = wanted;
    }
    refund.disabled = true;
    try {
      const answer = await merchantApi("POST", `/v1/merchant/orders/${encodeURIComponent(order.out_trade_no)}/refunds`, {
        out_request_no: requestNo, amount: wanted, reason: "refund at the till",
      });
      refunded.textContent = `Refunded ${grouped(answer.order.refunded.amount)} ${answer.order.refunded.currency}`;
      // Refunds give back their share of the fee: show what the order still costs.
      feeLine.textContent = `${grouped(answer.order.fee.amount)} ${answer.order.fee.currency}`;
      requestNo = null;
      // Nothing left to refund: the form goes.
      if (answer.order.refunded.amount === order.amount.amount) form.hidden = true;
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      refund.disabled = false;
    }
  });
  show(
    h("header", { class: "bar slim" }, h("h1", {}, "Paid")),
    h("section", { class: "card center receipt", "aria-labelledby": "paid-title" },
      h("p", { class: "tick", "aria-hidden": "true" }, "✓"),
      h("h2", { id: "paid-title" }, "Payment received"),
      h("p", { class: "balance", id: "paid-amount" }, grouped(order.amount.amount), " ", h("small", {}, order.amount.currency)),
      h("dl", {},
        h("dt", {}, "Order"), h("dd", { class: "mono" }, order.out_trade_no),
        h("dt", {}, "Customer"), h("dd", {}, order.buyer || "—"),
        h("dt", {}, "Platform fee"), feeLine),
      refunded),
    h("section", { class: "card" }, session.scope === "till"
      ? h("p", { class: "hint" }, "Refunds need a manager or the merchant's full key: ask a manager.")
      : form),
    h("div", { class: "footer" }, h("button", { class: "primary", type: "button", id: "next-sale", onclick: tillPage }, "Next sale")));
}

signInPage();
