// What the browser tests share: the server under test (scripts/browser-test starts it and
// sets CASHLESS_URL), Chromium, phone- and tablet-sized pages in a language, screenshots with
// their accessibility and language checks, and ready-made accounts.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const base = process.env.CASHLESS_URL;
export const dataDir = process.env.CASHLESS_DATA_DIR;
export const binary = process.env.CASHLESS_BIN || "target/debug/cashless";
export const artifacts = process.env.ARTIFACTS_DIR || "target/browser-artifacts";
mkdirSync(artifacts, { recursive: true });

export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];

let browser;

/** Chromium for this test file: launched before its tests, closed after them. */
export function useBrowser() {
  before(async () => {
    assert.ok(base, "CASHLESS_URL names the server under test");
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
  });
  return () => browser;
}

/** Collects a page's script errors and console errors in `page.errors`. */
export function watchErrors(page) {
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  page.on("console", (message) => { if (message.type() === "error") page.errors.push(message.text()); });
  return page;
}

/** A phone-sized page (390 × 844) whose browser prefers `locale`, with errors collected. */
export async function phone(locale = "en-US") {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, locale });
  return watchErrors(await context.newPage());
}

/** A tablet-sized page (768 × 1024) for the till or the gate. */
export async function tablet(locale = "en-US") {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 }, locale });
  return watchErrors(await context.newPage());
}

/** Script errors apart from the browser's own line for a refused request ("status of 4…"). */
export const realErrors = (page) => page.errors.filter((error) => !error.includes("status of 4"));

/** A mainland mobile number no one has used. */
export function freshNumber() {
  return `+86139${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
}

/**
 * Saves a screenshot and what a screen reader gets from the same view (its accessibility
 * tree as `<name>.aria.yml`), and fails on what would leave a screen-reader or keyboard user
 * stuck: a field without a label, a button or link without a name, a picture without a text
 * alternative, a view without exactly one main heading, a description that points nowhere,
 * a repeated id. And on words in the wrong language: the page's language is ours (en or
 * zh-CN), no phrase of the other language's table shows, and no table key shows raw.
 */
export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  writeFileSync(join(artifacts, `${name}.aria.yml`), await page.locator("body").ariaSnapshot());
  const problems = await page.evaluate(() => {
    const found = [];
    const shown = (el) => el.getClientRects().length > 0;
    const text = (ids) => (ids || "").split(/\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent || "").join(" ").trim();
    const label = (el) => (el.getAttribute("aria-label") || "").trim() || text(el.getAttribute("aria-labelledby"))
      || [...(el.labels || [])].map((l) => l.textContent).join(" ").trim();
    const what = (el) => `<${el.tagName.toLowerCase()}${el.id ? ` id=${el.id}` : ""}>`;
    for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
      if (!label(el)) found.push(`${what(el)} has no label`);
    }
    for (const el of document.querySelectorAll("button, a[href], [role=button], summary")) {
      if (shown(el) && !(label(el) || el.textContent.trim())) found.push(`${what(el)} has no name`);
    }
    for (const el of document.querySelectorAll("img, canvas, svg, video")) {
      const hidden = el.closest("[aria-hidden=true]");
      const named = el.getAttribute("alt") !== null || label(el);
      if (!hidden && !named && !el.closest("svg:not(:scope)")) found.push(`${what(el)} has no text alternative`);
    }
    const headings = [...document.querySelectorAll("h1")].filter(shown);
    if (headings.length !== 1) found.push(`${headings.length} main headings`);
    for (const el of document.querySelectorAll("[aria-describedby], [aria-labelledby]")) {
      for (const id of `${el.getAttribute("aria-describedby") || ""} ${el.getAttribute("aria-labelledby") || ""}`.split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) found.push(`${what(el)} points at a missing #${id}`);
      }
    }
    const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
    for (const id of new Set(ids.filter((id, i) => ids.indexOf(id) !== i))) found.push(`id ${id} is used twice`);

    // The language: ours, and nothing of the other one's table in what is shown or read out.
    const lang = document.documentElement.lang;
    if (!["en", "zh-CN"].includes(lang)) found.push(`the page's language is "${lang}"`);
    const tables = window.CASHLESS_LANG || {};
    const other = tables[lang === "zh-CN" ? "en" : "zh"] || {};
    const said = [document.body.innerText, document.title,
      ...[...document.querySelectorAll("[aria-label], [placeholder], [title], [alt]")].filter((el) => !el.closest("[hidden]"))
        .flatMap((el) => ["aria-label", "placeholder", "title", "alt"].map((name) => el.getAttribute(name) || "")),
      ...[...document.querySelectorAll("option")].map((el) => el.textContent)].join("\n");
    // Only the language switch names the other language, in that language.
    const words = said.replace(tables.en?.["lang.name"] || "English", "").replace(tables.zh?.["lang.name"] || "中文", "");
    // Phrases long enough not to be data by chance: English of two words or more; Chinese of
    // three characters or more (merchant names like 地铁咖啡 are data, and may hold a word).
    const phrase = lang === "zh-CN"
      ? (part) => /[A-Za-z]{2,}\s+[A-Za-z]{2,}/.test(part) && part.length >= 8
      : (part) => (part.match(/[\u3400-\u9fff]/g) || []).length >= 3;
    for (const [key, value] of Object.entries(other)) {
      const texts = typeof value === "string" ? [value] : Object.values(value);
      for (const part of texts.flatMap((t) => t.split(/\{\w+\}/)).map((p) => p.trim().replace(/[.:：。]$/, "")).filter(phrase)) {
        if (words.includes(part)) found.push(`"${part}" (${key}) from the other language's table`);
      }
    }
    const spaces = new Set(Object.keys(tables.en || {}).map((key) => key.split(".")[0]));
    for (const token of said.match(/\b[a-z]+(?:\.[A-Za-z0-9_]+)+\b/g) || []) {
      if (spaces.has(token.split(".")[0])) found.push(`the key ${token} shows raw`);
    }
    return found;
  });
  assert.deepEqual(problems, [], `${name}: accessibility and language`);
}

/** Signs in with the demo code the page shows (in the page's language); a session the page
 * holds already is forgotten first. */
export async function signIn(page, number) {
  await page.goto(base);
  await page.locator("#phone, #balance").first().waitFor();
  if (await page.locator("#balance").count()) {
    await page.evaluate(() => localStorage.clear());
    await page.reload();
  }
  await page.locator("#phone").fill(number);
  await page.locator("#send-code").click();
  const code = (await page.locator("#demo-code code").textContent()).trim();
  assert.match(code, /^\d{6}$/);
  await page.locator("#code").fill(code);
  await page.locator("#sign-in").click();
  await page.locator("#balance").waitFor();
}

/** A resident ID number (GB 11643) with its check character. */
export function residentId() {
  const first = `3301061992${String(1 + Math.floor(Math.random() * 12)).padStart(2, "0")}` +
    `${String(1 + Math.floor(Math.random() * 28)).padStart(2, "0")}${String(Math.floor(Math.random() * 1000)).padStart(3, "0")}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first].reduce((total, digit, i) => total + Number(digit) * weights[i], 0);
  return first + "10X98765432"[sum % 11];
}

/** An ICBC debit card number with its Luhn digit. */
export function cardNumber() {
  const partial = `622202${String(Math.floor(Math.random() * 1e12)).padStart(12, "0")}`;
  let sum = 0;
  [...partial].reverse().forEach((digit, i) => {
    let value = Number(digit);
    if (i % 2 === 0) { value *= 2; if (value > 9) value -= 9; }
    sum += value;
  });
  return partial + String((10 - (sum % 10)) % 10);
}

/** The demo city the server was started with. */
export function city() {
  return JSON.parse(readFileSync(join(dataDir, "demo-city.json"), "utf8"));
}

/** A merchant's signed request, signed by `cashless merchant sign` (as an integrator would). */
export async function merchantCall(merchant, method, path, body) {
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

export async function merchantGet(merchant, path) {
  const response = await merchantCall(merchant, "GET", path);
  assert.equal(response.status, 200, await response.clone().text());
  return Buffer.from(await response.arrayBuffer());
}

/** A consumer API call with the session the page holds. */
export async function consumerCall(page, method, path, body, headers = {}) {
  const token = await page.evaluate(() => localStorage.getItem("cashless.session"));
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = response.status === 204 ? null : await response.json();
  assert.ok(response.ok, `${method} ${path}: ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * A new account signed in on `page`, ready to pay (real name, PIN 258036, a linked card) and
 * topped up with `amount` CNY, set up over the API (the sign-up screens have their own test).
 * Answers the account's phone number and card.
 */
export async function readyConsumer(page, amount = "100.00") {
  const number = freshNumber();
  await signIn(page, number);
  await consumerCall(page, "POST", "/v1/me/identity", { kind: "resident_id", name: "孙丽", number: residentId() });
  await consumerCall(page, "POST", "/v1/me/pin", { pin: "258036" });
  const binding = await consumerCall(page, "POST", "/v1/me/cards", { number: cardNumber(), holder_name: "孙丽" });
  assert.ok(binding.demo_code, "the demo bank shows its code");
  await consumerCall(page, "POST", `/v1/me/cards/bindings/${binding.binding_id}/confirm`, { otp: binding.demo_code });
  const { cards } = await consumerCall(page, "GET", "/v1/me/cards");
  let topUp = await consumerCall(page, "POST", "/v1/me/topups", { card_id: cards[0].id, amount },
    { "idempotency-key": `ready-${Date.now()}-${Math.random()}` });
  for (let i = 0; i < 60 && topUp.status === "processing"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    topUp = await consumerCall(page, "GET", `/v1/me/topups/${topUp.id}`);
  }
  assert.equal(topUp.status, "succeeded", JSON.stringify(topUp));
  await page.reload();
  await page.locator("#balance").waitFor();
  return { phone: number, card: cards[0] };
}

/** The newest code the simulated SMS gateway texted to `number` for `purpose` (words of the
 * message, like "PIN reset"), from the operator's outbox. */
export async function textedCode(number, purpose) {
  const token = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
  const outbox = await fetch(`${base}/v1/operator/sms?phone=${encodeURIComponent(number)}`,
    { headers: { authorization: `Bearer ${token}` } }).then((response) => response.json());
  const message = outbox.messages.find((m) => m.text.includes(purpose));
  assert.ok(message, `no ${purpose} text to ${number}`);
  return /\b(\d{6})\b/.exec(message.text)[1];
}

/**
 * A camera that films `picture` (PNG bytes): a Y4M clip Chromium's fake capture device plays
 * in a loop. The picture is drawn on white at the middle of a 640 × 480 frame in a throwaway
 * page, and its pixels become the frame's luma (grey, as a camera sees a black-and-white code).
 */
export async function cameraFilming(picture, name = "camera") {
  const page = await browser.newPage();
  const luma = await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const canvas = new OffscreenCanvas(640, 480);
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, 640, 480);
    const scale = Math.min(560 / bitmap.width, 440 / bitmap.height);
    const [w, h] = [bitmap.width * scale, bitmap.height * scale];
    context.imageSmoothingEnabled = false;
    context.drawImage(bitmap, (640 - w) / 2, (480 - h) / 2, w, h);
    const { data } = context.getImageData(0, 0, 640, 480);
    const y = new Array(640 * 480);
    for (let i = 0; i < y.length; i++) {
      y[i] = Math.round(16 + (0.257 * data[4 * i] + 0.504 * data[4 * i + 1] + 0.098 * data[4 * i + 2]));
    }
    return y;
  }, picture.toString("base64"));
  await page.close();
  const frame = Buffer.concat([Buffer.from("FRAME\n"), Buffer.from(luma), Buffer.alloc(2 * 320 * 240, 128)]);
  const path = join(artifacts, `${name}.y4m`);
  writeFileSync(path, Buffer.concat([Buffer.from("YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n"), frame, frame]));
  return path;
}
