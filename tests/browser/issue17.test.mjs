// Issue 17's screens in a real Chromium (English): refusals said in words, "not enough" before
// the PIN, the PIN's change and reset, refunds from the console's list, a visitor's phone and
// top-up, the level badge, the statement's Transit filter. Fresh accounts only, and merchants
// the other files do not count the takings of: files may run in any order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  base, binary, useBrowser, phone, tablet, shot, signIn, freshNumber, city, merchantCall, merchantGet, readyConsumer,
  consumerCall, realErrors, textedCode,
} from "./helpers.mjs";

const browser = useBrowser();

/** The methods of the requests a page sends to `path`, from now on. */
function requestsTo(page, path) {
  const seen = [];
  page.on("request", (request) => { if (new URL(request.url()).pathname === path) seen.push(request.method()); });
  return seen;
}

/** Presses Pay on the confirm screen (unless the scan was refused already) and answers the
 * refusal matching `pattern`, wherever it shows. */
async function refusedWhenPaying(page, pattern) {
  const refusal = page.locator("#pay-error, #scan-error").filter({ hasText: pattern });
  const pay = page.locator("#pay");
  await refusal.or(pay).first().waitFor();
  if (await pay.isVisible()) await pay.click();
  await refusal.waitFor();
  return refusal;
}

/** Uploads `picture` (PNG bytes) on the Scan view, opened from home. */
async function scanPicture(page, picture) {
  await page.goto(`${base}/#/home`);
  await page.locator("#scan").click();
  await page.locator("#picture").setInputFiles({ name: "code.png", mimeType: "image/png", buffer: picture });
}

/** A new order of `merchant`: its number, its payload and the PNG of its code. */
async function orderWithCode(merchant, amount, subject) {
  const no = `IT17-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const response = await merchantCall(merchant, "POST", "/v1/merchant/orders",
    { out_trade_no: no, amount, subject, store_id: merchant.stores[0].id });
  assert.ok(response.ok, await response.clone().text());
  const order = await response.json();
  return { no, payload: order.qr_code, picture: await merchantGet(merchant, `/v1/merchant/orders/${no}/qr?format=png`) };
}

test("paying an order that is already paid, or closed, says why in words", async () => {
  const shop = city().merchants.find((m) => m.display_name === "Xiaofeng Books");
  const page = await phone();
  await readyConsumer(page);

  // Closed by the shop while the payer looks at it: Pay says so, and goes.
  const closed = await orderWithCode(shop, "8.00", "a pencil");
  await scanPicture(page, closed.picture);
  await page.locator("#pay-amount").filter({ hasText: "8.00 CNY" }).waitFor();
  const close = await merchantCall(shop, "POST", `/v1/merchant/orders/${closed.no}/close`);
  assert.ok(close.ok, await close.text());
  await page.getByRole("button", { name: "Pay" }).click();
  await page.locator("#pay-error").filter({ hasText: /closed/ }).waitFor();
  assert.doesNotMatch(await page.locator("#pay-error").textContent(), /_/);
  assert.equal(await page.locator("#pay:visible").count(), 0, "no Pay to press again");
  await shot(page, "40-order-closed");
  await page.getByRole("link", { name: "Scan another code" }).click();
  await page.locator("#picture").waitFor({ state: "attached" });

  // Paid meanwhile (here by the same payer from another screen).
  const raced = await orderWithCode(shop, "6.00", "a ruler");
  await scanPicture(page, raced.picture);
  await page.locator("#pay-amount").filter({ hasText: "6.00 CNY" }).waitFor();
  await consumerCall(page, "POST", "/v1/me/payments", { payload: raced.payload }, { "idempotency-key": `other-${Date.now()}` });
  await page.getByRole("button", { name: "Pay" }).click();
  await page.locator("#pay-error").filter({ hasText: /already paid/ }).waitFor();
  assert.equal(await page.locator("#pay:visible").count(), 0);

  // Scanned again once paid: refused at the scan (or on the confirm screen), in words.
  const { picture } = await orderWithCode(shop, "12.00", "a notebook");
  await scanPicture(page, picture);
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  await scanPicture(page, picture);
  const paid = await refusedWhenPaying(page, /already paid/);
  assert.doesNotMatch(await paid.textContent(), /_/);
  await shot(page, "40b-order-already-paid");
  assert.deepEqual(realErrors(page), []);
  await page.context().close();
});

test("short of money: 'not enough' comes before the PIN, with the card and a top-up offered", async () => {
  const shop = city().merchants.find((m) => m.display_name === "Longjing Tea House");
  const poster = await merchantGet(shop, `/v1/merchant/qr?store_id=${shop.stores[0].id}&format=png&scale=6`);
  const page = await phone();
  await readyConsumer(page, "100.00");
  const payments = requestsTo(page, "/v1/me/payments");
  const choices = requestsTo(page, "/v1/me/payment-card");
  await scanPicture(page, poster);
  await page.getByLabel("Amount (CNY)").fill("150.00");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.locator("#not-enough").waitFor();
  assert.match(await page.locator("#not-enough").textContent(), /balance has 100\.00 CNY.*150\.00 CNY/);
  assert.equal(await page.locator("#pin").isVisible(), false, "no PIN is asked for what cannot be paid");
  assert.deepEqual(payments, [], "nothing was sent to be refused");
  assert.ok(await page.getByRole("link", { name: "Top up first" }).isVisible());
  await shot(page, "41-not-enough");

  // The card covers the other 50.00 once chosen, which takes the PIN; an empty one is not sent.
  await page.getByRole("button", { name: "Use this card and pay" }).click();
  await page.locator("#fallback-card-pin-error").filter({ hasText: /6-digit/ }).waitFor();
  assert.deepEqual(choices.filter((method) => method === "PUT"), [], "an empty PIN is never sent");
  await page.getByLabel("Payment PIN (to choose a card)").fill("258036");
  await page.getByRole("button", { name: "Use this card and pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  assert.equal((await page.locator("#receipt-amount").textContent()).trim(), "150.00 CNY");
  await page.getByRole("link", { name: "Done" }).click();
  await page.locator("#balance").waitFor();
  assert.equal((await page.locator("#balance").textContent()).trim(), "0.00 CNY");

  // With the card chosen, a short payment says where the rest comes from, and goes through.
  await scanPicture(page, poster);
  await page.getByLabel("Amount (CNY)").fill("30.00");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();

  // Without a card for it, "Top up first" tops up and comes back to the same payment.
  await consumerCall(page, "PUT", "/v1/me/payment-card", { card_id: null });
  await scanPicture(page, poster);
  await page.getByLabel("Amount (CNY)").fill("20.00");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("link", { name: "Top up first" }).click();
  await page.getByText("After the top-up, the payment you were making opens again.").waitFor();
  await page.getByLabel("Amount").fill("50.00");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.getByRole("heading", { name: /Longjing Tea House/ }).waitFor({ timeout: 15000 });
  assert.equal(await page.getByLabel("Amount (CNY)").inputValue(), "20.00");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  assert.equal((await page.locator("#receipt-amount").textContent()).trim(), "20.00 CNY");
  assert.deepEqual(realErrors(page), []);
  await page.context().close();
});

test("the PIN: an empty one is not a try, change it, and after a lock-out reset it by SMS", async () => {
  const page = await phone();
  const { phone: number } = await readyConsumer(page, "100.00");
  // An empty PIN is never sent.
  const withdrawals = requestsTo(page, "/v1/me/withdrawals");
  await page.getByRole("link", { name: "Withdraw" }).click();
  await page.getByLabel("Amount (CNY)").fill("10.00");
  await page.getByRole("button", { name: "Withdraw" }).click();
  await page.locator("#withdraw-pin-error").filter({ hasText: /Type your 6-digit payment PIN/ }).waitFor();
  assert.deepEqual(withdrawals, []);

  // Change it with the old one, from the account's settings on the home screen.
  await page.getByRole("link", { name: "Back to home" }).click();
  await page.locator("#change-pin").click();
  await page.getByLabel("Current payment PIN").fill("258036");
  await page.getByLabel("New payment PIN (6 digits)").fill("369147");
  await page.getByLabel("The same PIN again").fill("369147");
  await page.getByRole("button", { name: "Change PIN" }).click();
  await page.locator("#pin-changed").filter({ hasText: "Your payment PIN is changed." }).waitFor();
  await shot(page, "42-pin-changed");

  // Wrong PINs until PIN payments lock: the unlock time reads as a local time, with the way out.
  await page.goto(`${base}/#/pin/change`);
  let said = "";
  for (let i = 0; i < 10 && !/locked/.test(said); i++) {
    await page.getByLabel("Current payment PIN").fill("111111");
    await page.getByLabel("New payment PIN (6 digits)").fill("482915");
    await page.getByLabel("The same PIN again").fill("482915");
    await page.locator("#old-pin-error").evaluate((line) => { line.textContent = ""; });
    await page.getByRole("button", { name: "Change PIN" }).click();
    said = await page.locator("#old-pin-error").filter({ hasText: /./ }).textContent();
  }
  assert.match(said, /locked until (\w{3} \d{1,2}, )?\d{1,2}:\d\d/);
  assert.doesNotMatch(said, /\d{4}-\d\d-\d\dT|Z\b|UTC/);
  await shot(page, "43-pin-locked");
  await page.locator("#old-pin-error").getByRole("link", { name: "Reset the PIN" }).click();
  await page.getByRole("heading", { name: "Reset the PIN", level: 1 }).waitFor();
  await page.getByRole("button", { name: "Text me a code" }).click();
  await page.locator("#pin-code-status").filter({ hasText: /We texted a code/ }).waitFor();
  // The demo shows the code on the page where the server sends it along; the outbox has it.
  const code = await page.locator("#pin-demo-code").isVisible()
    ? (await page.locator("#pin-demo-code code").textContent()).trim()
    : await textedCode(number, "PIN reset");
  await page.getByLabel("Code from the text message").fill(code);
  await page.getByLabel("New payment PIN (6 digits)").fill("482915");
  await page.getByLabel("The same PIN again").fill("482915");
  await shot(page, "44-pin-reset");
  await page.getByRole("button", { name: "Set the new PIN" }).click();
  await page.locator("#pin-changed").filter({ hasText: /unlocked/ }).waitFor();

  // Unlocked, with the new PIN.
  await page.goto(`${base}/#/withdraw`);
  await page.getByLabel("Amount (CNY)").fill("10.00");
  await page.getByLabel("Payment PIN").fill("482915");
  await page.getByRole("button", { name: "Withdraw" }).click();
  await page.locator("#balance").waitFor({ timeout: 15000 });
  assert.equal((await page.locator("#balance").textContent()).trim(), "90.00 CNY");
  assert.equal(await page.locator("#pin-locked").count(), 0);
  assert.deepEqual(realErrors(page), []);
  await page.context().close();
});

test("the console refunds any refundable order from its list", async () => {
  const pos = await tablet();
  await pos.goto(`${base}/pos`);
  await pos.getByRole("button", { name: /^Zhiwei Bakery · 知味面包坊/ }).click();
  await pos.getByLabel("Amount (CNY)").fill("20.00");
  await pos.getByLabel("What for").fill("a cake");
  await pos.getByRole("button", { name: "Show QR to the customer" }).click();
  await pos.locator("#order-qr svg").waitFor();
  const picture = await pos.locator("#order-qr svg").screenshot();
  const page = await phone();
  await readyConsumer(page, "50.00");
  await scanPicture(page, picture);
  await page.getByRole("button", { name: "Pay" }).click();
  await page.getByRole("heading", { name: "Paid" }).waitFor();
  await pos.getByRole("heading", { name: "Payment received" }).waitFor({ timeout: 15000 });
  const no = (await pos.locator(".receipt dd.mono").textContent()).trim();

  // Later, from the orders list: refund part of it.
  await pos.getByRole("button", { name: "Next sale" }).click();
  await pos.getByRole("button", { name: "Orders" }).click();
  await pos.getByRole("button", { name: `Refund order ${no}` }).click();
  await pos.getByRole("heading", { name: `Order ${no}`, level: 1 }).waitFor();
  assert.equal(await pos.getByLabel("Refund amount (CNY)").inputValue(), "20.00");
  await pos.getByLabel("Refund amount (CNY)").fill("5.00");
  await pos.getByRole("button", { name: "Refund", exact: true }).click();
  await pos.locator("#refunded").filter({ hasText: "Refunded 5.00 CNY" }).waitFor();
  assert.equal(await pos.getByLabel("Refund amount (CNY)").inputValue(), "15.00", "what is left is offered next");
  await shot(pos, "45-console-refund-from-list");
  await pos.getByRole("button", { name: "Back to orders" }).click();
  const row = pos.locator("#orders tbody tr").filter({ hasText: no });
  await row.waitFor();
  assert.match(await row.textContent(), /Paid.*20\.00 CNY.*−5\.00/);
  assert.equal(await row.getByRole("button", { name: `Refund order ${no}` }).count(), 1, "15.00 is still refundable");
  assert.deepEqual(realErrors(pos), []);
  await pos.context().close();
  await page.context().close();
});

test("a visitor: a local-format number gets a country-code hint; codes and messages are words", async () => {
  const page = await phone();
  await page.goto(base);
  await page.getByLabel("Mobile number").fill("07911 123456");
  await page.locator("#phone-hint").filter({ hasText: /country code/ }).waitFor();
  await page.getByRole("button", { name: "Send code" }).click();
  await page.locator("#phone-error").filter({ hasText: /country code/ }).waitFor();
  assert.doesNotMatch(await page.locator("#phone-error").textContent(), /mainland mobile number has|_/);
  await shot(page, "46-visitor-phone-hint");

  // A web link's QR code is "not a payment code", not the parser's words.
  const drawn = await browser().newPage();
  await drawn.goto(base);
  await drawn.evaluate(() => document.body.replaceChildren(QR.svg("https://example.com/menu", "link")));
  const link = await drawn.locator("svg").screenshot();
  await drawn.close();
  await signIn(page, freshNumber());
  await scanPicture(page, link);
  await page.locator("#scan-error").filter({ hasText: /not a payment code/ }).waitFor();
  assert.doesNotMatch(await page.locator("#scan-error").textContent(), /EMVCo|character|"ht"|_/);

  // At the till, a mistyped payment code is said in words, and not sent.
  const pos = await tablet();
  const charges = requestsTo(pos, "/v1/merchant/orders/paycode");
  await pos.goto(`${base}/pos`);
  await pos.getByRole("button", { name: /^Old Chen Fruit/ }).click();
  await pos.getByLabel("Amount (CNY)").fill("3.00");
  await pos.getByLabel("Or scan (or type) the customer's payment code").fill("2812345");
  await pos.getByRole("button", { name: "Charge the customer's code" }).click();
  await pos.locator("#amount-error").filter({ hasText: /18 digits/ }).waitFor();
  assert.doesNotMatch(await pos.locator("#amount-error").textContent(), /auth_code/i);
  assert.deepEqual(charges, []);
  await pos.context().close();
  await page.context().close();
});

test("a foreign card's top-up shows the card's charge and the rate before it is confirmed", async () => {
  const page = await phone();
  await readyConsumer(page, "10.00");
  // A Visa card from abroad, in the visitor's name.
  const binding = await consumerCall(page, "POST", "/v1/me/cards", { number: "4111111111111111", holder_name: "孙丽" });
  await consumerCall(page, "POST", `/v1/me/cards/bindings/${binding.binding_id}/confirm`, { otp: binding.demo_code });
  const topUps = requestsTo(page, "/v1/me/topups");
  await page.goto(`${base}/#/topup`);
  const visa = await page.locator("#top-up-card option").filter({ hasText: /Visa/ }).getAttribute("value");
  await page.getByLabel("From").selectOption(visa);
  await page.getByLabel("Currency of the card").selectOption("EUR");
  await page.getByLabel("Amount").fill("10.00");
  await page.getByRole("button", { name: "Top up" }).click();
  await page.locator("#quote-charge").filter({ hasText: /10\.00 EUR/ }).waitFor();
  assert.deepEqual(topUps, [], "nothing is charged before the charge is shown");
  const quoted = await fetch(`${base}/v1/me/topups/quote`, { method: "POST" }).then((r) => r.status);
  if (quoted !== 404 && quoted !== 405) {
    assert.match(await page.locator("#quote-rate").textContent(), /^Rate: 1 EUR = \d+(\.\d+)? CNY$/);
  }
  await shot(page, "47-top-up-quote");
  // Changing the amount asks again before anything is charged.
  await page.getByLabel("Amount").fill("12.00");
  assert.equal(await page.locator("#quote-charge").count(), 0);
  await page.getByRole("button", { name: "Top up" }).click();
  await page.locator("#quote-charge").filter({ hasText: /12\.00 EUR/ }).waitFor();
  await page.getByRole("button", { name: /^Confirm/ }).click();
  await page.locator("#balance").waitFor({ timeout: 15000 });
  assert.notEqual((await page.locator("#balance").textContent()).trim(), "10.00 CNY");
  assert.deepEqual(realErrors(page), []);
  await page.context().close();
});

test("the level badge says what the level means; the statement filters Transit", async () => {
  const page = await phone();
  await signIn(page, freshNumber());
  await page.locator("#level summary").filter({ hasText: "L0 · not verified" }).click();
  assert.match(await page.locator("#level-meaning").textContent(), /cannot pay/);
  await shot(page, "48-level-l0");
  await readyConsumer(page, "10.00");
  await page.locator("#level summary").filter({ hasText: "L2 · real name and card" }).click();
  assert.match(await page.locator("#level-meaning").textContent(), /50,000 CNY a day and 20,000 CNY a payment/);

  await page.getByRole("link", { name: "See all" }).click();
  await page.getByRole("button", { name: "Transit" }).click();
  assert.equal(await page.getByRole("button", { name: "Transit" }).getAttribute("aria-pressed"), "true");
  const served = await page.evaluate(async () => (await fetch("/v1/me/statement?kind=transit", {
    headers: { authorization: `Bearer ${localStorage.getItem("cashless.session")}` } })).status);
  // A server that lists transit lines shows none yet; one that does not yet says so in words.
  if (served === 200) await page.locator("#statement-all li.empty").filter({ hasText: "Nothing here yet." }).waitFor();
  else await page.locator(".error").filter({ hasText: /cannot be listed yet/ }).waitFor();
  await shot(page, "49-statement-transit");
  await page.context().close();
});

test("the console: staff and till keys added with another key are confirmed with this one", async () => {
  const cafe = city().merchants.find((m) => m.display_name === "Hangzhou Metro Cafe");
  // Staff added with the demo key, then the key rotated (as an integrator would, signed).
  const staffPhone = freshNumber();
  const added = await merchantCall(cafe, "POST", "/v1/merchant/staff", { phone: staffPhone, name: "Xiao Wu", role: "cashier" });
  assert.ok(added.ok, await added.clone().text());
  const made = execFileSync(binary, ["merchant", "keygen"], { encoding: "utf8" });
  const secret = /secret_key: ([0-9a-f]{64})/.exec(made)[1];
  const publicKey = /public_key: ([0-9a-f]{64})/.exec(made)[1];
  const rotated = await merchantCall(cafe, "POST", "/v1/merchant/keys", { public_key: publicKey });
  assert.equal(rotated.status, 201, await rotated.clone().text());
  const key = await rotated.json();

  // The console opened with the new key offers to stand behind what the old one added.
  const pos = await tablet();
  await pos.goto(`${base}/pos`);
  await pos.getByLabel("Merchant id").fill(cafe.id);
  await pos.getByLabel("Key id").fill(key.id);
  await pos.getByLabel(/Secret key/).fill(secret);
  await pos.getByRole("button", { name: "Open the till with the key" }).click();
  await pos.getByRole("button", { name: "Posters & settings" }).click();
  const row = pos.locator("#staff-list li").filter({ hasText: "Xiao Wu" });
  await row.getByText(`Added with key ${cafe.key_id}`).waitFor();
  await shot(pos, "50-console-grant-elsewhere");
  await row.getByRole("button", { name: "Confirm Xiao Wu with this key" }).click();
  await row.getByText(/Added with key/).waitFor({ state: "detached" });
  assert.equal(await row.getByRole("button", { name: /Confirm/ }).count(), 0);
  const { staff } = await (await merchantCall({ id: cafe.id, key_id: key.id, secret_key: secret }, "GET", "/v1/merchant/staff")).json();
  assert.equal(staff.find((person) => person.name === "Xiao Wu").granted_by, key.id);
  assert.deepEqual(realErrors(pos), []);
  await pos.context().close();
});
