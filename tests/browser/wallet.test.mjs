// The wallet web app in a real Chromium, against `cashless serve --demo` (see
// scripts/browser-test, which starts the server and sets CASHLESS_URL). Screenshots go to
// $ARTIFACTS_DIR: look at them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.CASHLESS_URL;
const dataDir = process.env.CASHLESS_DATA_DIR;
const binary = process.env.CASHLESS_BIN || "target/debug/cashless";
const artifacts = process.env.ARTIFACTS_DIR || "target/browser-artifacts";
mkdirSync(artifacts, { recursive: true });

let browser;

before(async () => {
  assert.ok(base, "CASHLESS_URL names the server under test");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

/** A phone-sized page (390 × 844) with console errors collected. */
async function phone() {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  page.on("console", (message) => { if (message.type() === "error") page.errors.push(message.text()); });
  return page;
}

/** A mainland mobile number no one has used. */
function freshNumber() {
  return `+86139${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Signs in with the demo code the page shows. */
async function signIn(page, number) {
  await page.goto(base);
  await page.getByLabel("Mobile number").fill(number);
  await page.getByRole("button", { name: "Send code" }).click();
  const code = (await page.locator("#demo-code code").textContent()).trim();
  assert.match(code, /^\d{6}$/);
  await page.getByLabel("Code from the text message").fill(code);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#balance").waitFor();
}

test("a demo consumer signs in and sees her balance, limit and statement", async () => {
  const page = await phone();
  await page.goto(base);
  await shot(page, "01-sign-in");
  await signIn(page, "+8613800138001");
  // The demo top-up may still be with the bank for a moment: reload until it lands.
  for (let i = 0; i < 20; i++) {
    if ((await page.locator("#balance").textContent()).includes("2,000.00")) break;
    await page.waitForTimeout(250);
    await page.reload();
    await page.locator("#balance").waitFor();
  }
  assert.equal((await page.locator("#balance").textContent()).trim(), "2,000.00CNY");
  assert.match(await page.locator("#remaining").textContent(), /50,000\.00 CNY/);
  assert.match(await page.getByRole("heading", { level: 1 }).textContent(), /李娜/);
  const first = page.locator("#statement li").first();
  assert.match(await first.textContent(), /\+2,000\.00 CNY/);
  await shot(page, "02-home");
  assert.deepEqual(page.errors, []);

  // Signing out returns to the sign-in page, and the session is gone.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Mobile number").waitFor();
  await page.context().close();
});

test("bad input is answered in plain words next to the field", async () => {
  const page = await phone();
  await page.goto(base);
  await page.getByLabel("Mobile number").fill("12345");
  await page.getByRole("button", { name: "Send code" }).click();
  const phoneError = page.locator("#phone-error");
  await phoneError.filter({ hasText: /./ }).waitFor();
  assert.equal(await page.getByLabel("Mobile number").getAttribute("aria-invalid"), "true");

  await page.getByLabel("Mobile number").fill(freshNumber());
  await page.getByRole("button", { name: "Send code" }).click();
  await page.locator("#demo-code code").waitFor();
  const code = (await page.locator("#demo-code code").textContent()).trim();
  const wrong = code === "000000" ? "111111" : "000000";
  await page.getByLabel("Code from the text message").fill(wrong);
  await page.getByRole("button", { name: "Sign in" }).click();
  const codeError = page.locator("#code-error");
  await codeError.filter({ hasText: /./ }).waitFor();
  assert.match(await codeError.textContent(), /attempt|wrong|incorrect/i);
  await shot(page, "03-wrong-code");
  assert.deepEqual(page.errors.filter((e) => !e.includes("status of 4")), []);
  await page.context().close();
});

/** A resident ID number (GB 11643) with its check character. */
function residentId() {
  const first = `3301061992${String(1 + Math.floor(Math.random() * 12)).padStart(2, "0")}` +
    `${String(1 + Math.floor(Math.random() * 28)).padStart(2, "0")}${String(Math.floor(Math.random() * 1000)).padStart(3, "0")}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first].reduce((total, digit, i) => total + Number(digit) * weights[i], 0);
  return first + "10X98765432"[sum % 11];
}

/** An ICBC debit card number with its Luhn digit. */
function cardNumber() {
  const partial = `622202${String(Math.floor(Math.random() * 1e12)).padStart(12, "0")}`;
  let sum = 0;
  [...partial].reverse().forEach((digit, i) => {
    let value = Number(digit);
    if (i % 2 === 0) { value *= 2; if (value > 9) value -= 9; }
    sum += value;
  });
  return partial + String((10 - (sum % 10)) % 10);
}

test("a new number signs up, verifies, sets a PIN, links a card and tops up", async () => {
  const page = await phone();
  await signIn(page, freshNumber());
  assert.equal((await page.locator("#balance").textContent()).trim(), "0.00CNY");
  await page.getByText("Nothing yet").waitFor();
  await shot(page, "04-new-account");

  await page.getByRole("link", { name: /Verify your real name/ }).click();
  await page.getByLabel("Name as on the document").fill("赵敏");
  await page.getByLabel("Document number").fill("110105194912310021");
  await page.getByRole("button", { name: "Verify" }).click();
  await page.locator("#id-number-error").filter({ hasText: /./ }).waitFor();
  await shot(page, "05-bad-id");
  await page.getByLabel("Document number").fill(residentId());
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByRole("link", { name: /Set your payment PIN/ }).click();
  await page.getByLabel("New payment PIN (6 digits)").fill("123456");
  await page.getByLabel("The same PIN again").fill("123456");
  await page.getByRole("button", { name: "Set PIN" }).click();
  await page.locator("#new-pin-error").filter({ hasText: /./ }).waitFor();
  await page.getByLabel("New payment PIN (6 digits)").fill("258036");
  await page.getByLabel("The same PIN again").fill("258036");
  await page.getByRole("button", { name: "Set PIN" }).click();
  await page.getByRole("link", { name: /Link a bank card/ }).click();
  await page.getByLabel("Card number").fill(cardNumber());
  await page.getByLabel("Name on the card").fill("赵敏");
  await page.getByRole("button", { name: "Send me the code" }).click();
  const otp = (await page.locator(".demo code").textContent()).trim();
  await page.getByLabel("Code from your bank's text message").fill(otp);
  await shot(page, "06-link-card");
  await page.getByRole("button", { name: "Link card" }).click();
  await page.getByLabel("Amount").fill("100.00");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.locator("#balance").waitFor({ timeout: 15000 });
  assert.equal((await page.locator("#balance").textContent()).trim(), "100.00CNY");
  assert.equal(await page.getByText("Get ready to pay").count(), 0, "nothing left to set up");
  assert.doesNotMatch(await page.locator("body").innerText(), /\b(null|undefined|NaN)\b/);
  await shot(page, "07-topped-up");
  assert.deepEqual(page.errors.filter((e) => !e.includes("status of 4")), []);
  await page.context().close();
});

/** The demo city the server was started with. */
function city() {
  return JSON.parse(readFileSync(join(dataDir, "demo-city.json"), "utf8"));
}

/** A merchant's signed request, signed by `cashless merchant sign` (as an integrator would). */
async function merchantCall(merchant, method, path, body) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const args = ["merchant", "sign", "--merchant-id", merchant.id, "--key-id", merchant.key_id,
    "--method", method, "--path", path];
  if (text !== undefined) args.push("--body", text);
  const printed = execFileSync(binary, args,
    { env: { ...process.env, CASHLESS_MERCHANT_SECRET_KEY: merchant.secret_key }, encoding: "utf8" });
  const authorization = printed.split("\n").find((line) => line.startsWith("Authorization: "))
    .slice("Authorization: ".length);
  const headers = { authorization };
  if (text !== undefined) headers["content-type"] = "application/json";
  return fetch(base + path, { method, headers, body: text });
}

async function merchantGet(merchant, path) {
  const response = await merchantCall(merchant, "GET", path);
  assert.equal(response.status, 200, await response.clone().text());
  return Buffer.from(await response.arrayBuffer());
}

test("a consumer pays a street stall by uploading a photo of its poster", async () => {
  const stall = city().merchants.find((m) => m.display_name === "Grandma Wu Noodle Stall");
  const poster = await merchantGet(stall, `/v1/merchant/qr?store_id=${stall.stores[0].id}&format=png&scale=6`);
  const page = await phone();
  await signIn(page, "+8613800138002");
  for (let i = 0; i < 20 && !(await page.locator("#balance").textContent()).includes("500.00"); i++) {
    await page.waitForTimeout(250);
    await page.reload();
    await page.locator("#balance").waitFor();
  }
  await page.getByRole("link", { name: "Scan", exact: true }).click();
  await page.getByText("Take or choose a photo of the QR code").waitFor();
  await shot(page, "08-scan");
  await page.locator("#picture").setInputFiles({ name: "poster.png", mimeType: "image/png", buffer: poster });
  await page.getByRole("heading", { name: /Grandma Wu Noodle Stall/ }).waitFor();
  await page.getByLabel("Amount (CNY)").fill("18.50");
  await shot(page, "09-confirm");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  assert.equal((await page.locator("#receipt-amount").textContent()).trim(), "18.50CNY");
  await shot(page, "10-receipt");
  await page.getByRole("link", { name: "Done" }).click();
  await page.locator("#balance").waitFor();
  assert.equal((await page.locator("#balance").textContent()).trim(), "481.50CNY");
  assert.match(await page.locator("#statement li").first().textContent(), /Grandma Wu Noodle Stall.*−18\.50 CNY/);
  assert.deepEqual(page.errors, []);

  // Money back to the card: a wrong PIN is refused next to its field, the right one goes.
  await page.getByRole("link", { name: "Withdraw" }).click();
  await page.getByLabel("Amount (CNY)").fill("100.00");
  await page.getByLabel("Payment PIN").fill("111222");
  await page.getByRole("button", { name: "Withdraw" }).click();
  await page.locator("#withdraw-pin-error").filter({ hasText: /./ }).waitFor();
  await page.getByLabel("Payment PIN").fill("258036");
  await page.getByRole("button", { name: "Withdraw" }).click();
  await page.locator("#balance").waitFor({ timeout: 15000 });
  assert.equal((await page.locator("#balance").textContent()).trim(), "381.50CNY");

  // A picture without a code is answered next to the drop zone.
  await page.getByRole("link", { name: "Scan", exact: true }).click();
  const noCode = await page.screenshot();
  await page.locator("#picture").setInputFiles({ name: "screen.png", mimeType: "image/png", buffer: noCode });
  await page.locator("#scan-error").filter({ hasText: /./ }).waitFor();
  assert.match(await page.locator("#scan-error").textContent(), /no qr code/i);
  // Nor is a file that is no picture at all.
  await page.locator("#picture").setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not a picture") });
  await page.locator("#scan-error").filter({ hasText: /PNG or JPEG/ }).waitFor();
  await page.context().close();
});

test("the cashier scans the payment code; above the limit the payer confirms with the PIN", async () => {
  const shop = city().merchants.find((m) => m.display_name === "Tianmu Supermarket");
  const store = shop.stores[0];
  const page = await phone();
  await signIn(page, "+8613800138001");
  await page.getByRole("link", { name: "Pay", exact: true }).click();
  await page.locator("#paycode svg").waitFor();
  const code = await page.locator("#paycode-digits").getAttribute("data-code");
  assert.match(code, /^28\d{16}$/);
  // What the page drew is what a scanner reads.
  const picture = join(artifacts, "11-paycode-only.png");
  await page.locator("#paycode svg").screenshot({ path: picture });
  const read = execFileSync(binary, ["qr", "decode", picture], { encoding: "utf8" });
  assert.match(read, new RegExp(code));
  // And the barcode, as a till's laser scanner reads it (zbar).
  const strip = join(artifacts, "11-barcode-only.png");
  await page.locator("#barcode svg").screenshot({ path: strip });
  const scanned = execFileSync("zbarimg", ["--quiet", strip], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  assert.equal(scanned.trim(), `CODE-128:${code}`);
  await shot(page, "11-paycode");

  // Below the password-free limit: paid at once.
  const charge = (authCode, no, amount) => merchantCall(shop, "POST", "/v1/merchant/orders/paycode",
    { auth_code: authCode, out_trade_no: no, amount, subject: "groceries", store_id: store.id, terminal_id: store.terminal_id });
  let response = await charge(code, `BT-${Date.now()}`, "9.90");
  let order = await response.json();
  assert.equal(response.status, 200, JSON.stringify(order));
  assert.equal(order.status, "SUCCESS");
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  assert.equal((await page.locator("#receipt-amount").textContent()).trim(), "9.90CNY");
  await shot(page, "12-paycode-paid");

  // Above it: the order waits, the page asks for the PIN, the cashier sees it paid.
  await page.getByRole("link", { name: "Done" }).click();
  await page.getByRole("link", { name: "Pay", exact: true }).click();
  await page.locator("#paycode svg").waitFor();
  const next = await page.locator("#paycode-digits").getAttribute("data-code");
  assert.notEqual(next, code, "a used code is never shown again");
  const big = `BT-BIG-${Date.now()}`;
  response = await charge(next, big, "1200.00");
  order = await response.json();
  assert.equal(order.status, "USERPAYING", JSON.stringify(order));
  await page.getByLabel("Payment PIN").waitFor();
  await shot(page, "13-confirm-pin");
  await page.getByLabel("Payment PIN").fill("258036");
  await page.getByRole("button", { name: "Confirm payment" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor({ timeout: 15000 });
  response = await merchantCall(shop, "GET", `/v1/merchant/orders/${big}`);
  assert.equal((await response.json()).status, "SUCCESS");
  assert.deepEqual(page.errors.filter((e) => !e.includes("status of 4")), []);
  await page.context().close();
});

test("a till shows an order's QR, the customer pays it, the till refunds it", async () => {
  const till = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  const pos = await till.newPage();
  pos.errors = [];
  pos.on("pageerror", (error) => pos.errors.push(error.message));
  await pos.goto(`${base}/pos`);
  await pos.getByRole("button", { name: /West Lake Noodles/ }).click();
  await pos.getByLabel("Amount (CNY)").fill("36.00");
  await pos.getByLabel("What for").fill("2 bowls of noodles");
  await pos.screenshot({ path: join(artifacts, "14-pos-till.png"), fullPage: true });
  await pos.getByRole("button", { name: "Show QR to the customer" }).click();
  await pos.locator("#order-qr svg").waitFor();
  await pos.screenshot({ path: join(artifacts, "15-pos-qr.png"), fullPage: true });
  const orderQr = await pos.locator("#order-qr svg").screenshot();

  const page = await phone();
  await signIn(page, "+8613800138001");
  const before = (await page.locator("#balance").textContent()).trim();
  await page.getByRole("link", { name: "Scan", exact: true }).click();
  await page.locator("#picture").setInputFiles({ name: "till.png", mimeType: "image/png", buffer: orderQr });
  await page.getByRole("heading", { name: /West Lake Noodles/ }).waitFor();
  assert.equal((await page.locator("#pay-amount").textContent()).trim(), "36.00CNY");
  await page.getByText("2 bowls of noodles").waitFor();
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();

  await pos.getByRole("heading", { name: "Payment received" }).waitFor({ timeout: 15000 });
  assert.equal((await pos.locator("#paid-amount").textContent()).trim(), "36.00CNY");
  assert.match(await pos.locator("dd").nth(1).textContent(), /娜/, "the customer's masked name");
  await pos.getByRole("button", { name: "Refund" }).click();
  await pos.locator("#refunded").filter({ hasText: /Refunded 36\.00 CNY/ }).waitFor();
  assert.equal((await pos.locator("#fee").textContent()).trim(), "0.00 CNY", "a full refund gives the whole fee back");
  await pos.screenshot({ path: join(artifacts, "16-pos-refunded.png"), fullPage: true });

  await page.getByRole("link", { name: "Done" }).click();
  await page.locator("#balance").waitFor();
  assert.equal((await page.locator("#balance").textContent()).trim(), before, "the refund is back");

  // The consumer's statement, refunds only, opens the payment's receipt.
  await page.getByRole("link", { name: "See all" }).click();
  await page.getByRole("button", { name: "Refunds" }).click();
  const refundLine = page.locator("#statement-all li").first();
  await refundLine.filter({ hasText: /West Lake Noodles/ }).waitFor();
  assert.match(await refundLine.textContent(), /\+36\.00 CNY/);
  await shot(page, "16b-statement-refunds");
  await refundLine.locator("a").click();
  await page.locator("#receipt-amount").waitFor();
  assert.equal((await page.locator("#receipt-amount").textContent()).trim(), "36.00CNY");
  await page.getByRole("heading", { name: "Refunded" }).waitFor();

  // The console: the order in the list, the day's takings, the notifications, the poster.
  await pos.getByRole("button", { name: "Next sale" }).click();
  await pos.getByRole("button", { name: "Orders" }).click();
  await pos.locator("#orders tbody tr td").first().waitFor();
  const row = await pos.locator("#orders tbody tr").first().textContent();
  assert.match(row, /POS-.*Closed.*36\.00 CNY.*−36\.00.*\*娜/, "refunded in full, the order is closed");
  await pos.screenshot({ path: join(artifacts, "17-console-orders.png"), fullPage: true });
  await pos.getByRole("button", { name: "Takings" }).click();
  await pos.locator("#takings dd").first().waitFor();
  const figures = await pos.locator("#takings").innerText();
  assert.match(figures, /Orders paid\s+1/);
  assert.match(figures, /Gross\s+36\.00 CNY/);
  assert.match(figures, /Net\s+0\.00 CNY/);
  await pos.screenshot({ path: join(artifacts, "18-console-takings.png"), fullPage: true });
  await pos.getByRole("button", { name: "Notifications" }).click();
  await pos.getByRole("button", { name: "Retry now" }).first().click();
  await pos.getByText(/Set a notify URL first/).waitFor();
  await pos.getByRole("button", { name: "Posters & settings" }).click();
  const poster = pos.getByRole("img", { name: /QR code poster of Hubin/ });
  await poster.waitFor();
  await pos.waitForFunction(() => [...document.images].every((image) => image.complete && image.naturalWidth > 0));
  await pos.screenshot({ path: join(artifacts, "19-console-posters.png"), fullPage: true });

  // A key for a till, made in the browser; the till opened with it takes payments, not refunds.
  await pos.getByRole("button", { name: "Make a key for a till" }).click();
  await pos.locator("#till-secret").waitFor();
  const tillKey = {
    merchant: (await pos.locator("#till-merchant").textContent()).trim(),
    key: (await pos.locator("#till-key-id").textContent()).trim(),
    secret: (await pos.locator("#till-secret").textContent()).trim(),
  };
  assert.match(tillKey.secret, /^[0-9a-f]{64}$/);
  await pos.getByRole("button", { name: "Close till" }).click();
  await pos.getByLabel("Merchant id").fill(tillKey.merchant);
  await pos.getByLabel("Key id").fill(tillKey.key);
  await pos.getByLabel(/Secret key/).fill(tillKey.secret);
  await pos.getByRole("button", { name: "Open the till" }).click();
  await pos.getByLabel("Amount (CNY)").fill("8.00");
  await pos.getByRole("button", { name: "Show QR to the customer" }).click();
  await pos.locator("#order-qr svg").waitFor();
  const tillQr = await pos.locator("#order-qr svg").screenshot();
  await page.getByRole("link", { name: "Done" }).click();
  await page.getByRole("link", { name: "Scan", exact: true }).click();
  await page.locator("#picture").setInputFiles({ name: "till.png", mimeType: "image/png", buffer: tillQr });
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  await pos.getByRole("heading", { name: "Payment received" }).waitFor({ timeout: 15000 });
  await pos.getByText("Refunds need the merchant's full key").waitFor();
  assert.equal(await pos.getByRole("button", { name: "Refund" }).count(), 0);
  await pos.screenshot({ path: join(artifacts, "19b-till-key-receipt.png"), fullPage: true });
  assert.deepEqual(pos.errors, []);
  await till.close();
  await page.context().close();
});

test("a foreign visitor tops up from her Visa card in dollars and sees yuan", async () => {
  const page = await phone();
  await signIn(page, "+8613800138003");
  for (let i = 0; i < 20 && (await page.locator("#balance").textContent()).trim() === "0.00CNY"; i++) {
    await page.waitForTimeout(250);
    await page.reload();
    await page.locator("#balance").waitFor();
  }
  const before = (await page.locator("#balance").textContent()).trim();
  assert.match(before, /^[\d,]+\.\d\dCNY$/);
  assert.match(await page.getByRole("heading", { level: 1 }).textContent(), /Emma Clarke/);
  await page.getByRole("link", { name: "Top up" }).click();
  await page.getByLabel("Currency of the card").selectOption("USD");
  await page.getByLabel("Amount").fill("20.00");
  await shot(page, "20-visitor-top-up");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.locator("#balance").waitFor({ timeout: 15000 });
  const after = (await page.locator("#balance").textContent()).trim();
  const fen = (text) => Number(text.replace(/[^\d]/g, ""));
  assert.ok(fen(after) > fen(before), `${before} → ${after}`);
  // The line says what arrived in yuan.
  assert.match(await page.locator("#statement li").first().textContent(), /Top-up · 20\.00 USD.*\+[\d,]+\.\d\d CNY/);
  await shot(page, "21-visitor-topped-up");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
