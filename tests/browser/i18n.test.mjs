// The language tables without a browser: both languages have every key, every key the pages
// use exists, every refusal the pages can meet (the stable error codes in the Rust sources)
// has words in both, and money is formatted exactly. Runs with the browser suite
// (scripts/browser-test); needs no server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";

const WEB = "crates/server/web";
const PAGES = ["app.js", "pos.js", "gate.js", "ui.js", "i18n.js"];

/** The tables as the pages get them (lang/en.js and lang/zh.js run as scripts). */
function tables() {
  const window = {};
  for (const lang of ["en", "zh"]) vm.runInNewContext(readFileSync(join(WEB, "lang", `${lang}.js`), "utf8"), { window });
  return window.CASHLESS_LANG;
}

/** i18n.js in a stand-in browser that prefers `languages`. */
function i18n(languages) {
  const context = {
    window: { CASHLESS_LANG: tables() },
    localStorage: { getItem: () => null, setItem: () => {} },
    navigator: { languages, language: languages[0] },
    document: { documentElement: {}, createElement: () => ({ addEventListener() {} }) },
    Node: class {},
    console,
    Intl,
  };
  vm.runInNewContext(`${readFileSync(join(WEB, "i18n.js"), "utf8")}\nthis.I18n = I18n;`, context);
  return context.I18n;
}

const placeholders = (value) => new Set((typeof value === "string" ? [value] : Object.values(value))
  .flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1])));

test("both languages have the same keys, with the same {names}, and no empty words", () => {
  const { en, zh } = tables();
  assert.deepEqual(Object.keys(zh).filter((key) => !(key in en)), [], "keys only in lang/zh.js");
  assert.deepEqual(Object.keys(en).filter((key) => !(key in zh)), [], "keys only in lang/en.js");
  for (const key of Object.keys(en)) {
    for (const [lang, value] of [["en", en[key]], ["zh", zh[key]]]) {
      const texts = typeof value === "string" ? [value] : Object.values(value);
      assert.ok(texts.length && texts.every((text) => typeof text === "string" && text.trim()), `${lang} ${key} is empty`);
      if (typeof value !== "string") assert.ok("other" in value, `${lang} ${key} has no "other" form`);
    }
    assert.deepEqual([...placeholders(zh[key])].sort(), [...placeholders(en[key])].sort(), `${key}: the {names} differ`);
  }
  // Chinese words in the Chinese table: a key left in English would show English.
  const english = Object.entries(zh).filter(([key, value]) => typeof value === "string"
    && value === en[key] && /[a-z]{3,}\s+[a-z]{3,}/i.test(value.replace(/\{\w+\}/g, "")));
  assert.deepEqual(english.map(([key]) => key), [], "untranslated in lang/zh.js");
});

/** Keys made at run time from data, and every value each can take. */
const DYNAMIC = {
  kind: ["top_up", "withdrawal", "payment", "refund", "transit", "transit_refund"],
  status: ["processing", "failed"],
  level: ["L0.short", "L0.means", "L1.short", "L1.means", "L2.short", "L2.means"],
  currency: ["CNY", "USD", "EUR", "GBP", "JPY", "HKD"],
  "pos.status": ["WAIT_BUYER_PAY", "USERPAYING", "SUCCESS", "CLOSED", "FINISHED"],
  "pos.role": ["cashier", "manager"],
  "pos.events": ["delivered", "pending", "failed", "no_url"],
  "pos.event": ["order.paid", "order.refunded", "order.closed", "order.finished"],
  "gate.direction": ["entry", "exit"],
};

test("every key the pages use is in the tables", () => {
  const { en } = tables();
  const spaces = new Set(Object.keys(en).map((key) => key.split(".")[0]));
  const missing = [];
  for (const file of PAGES) {
    const source = readFileSync(join(WEB, file), "utf8");
    // Any string literal shaped like a key of one of the tables' namespaces.
    for (const [, key] of source.matchAll(/"([a-z]+(?:\.[A-Za-z0-9_]+)+)"/g)) {
      if (spaces.has(key.split(".")[0]) && !(key in en)) missing.push(`${file}: ${key}`);
    }
    // Keys made from data name their family in a template: each family is listed above.
    for (const [, family] of source.matchAll(/`([a-z]+(?:\.[a-z_]+)*)\.\$\{/g)) {
      if (!spaces.has(family.split(".")[0]) || family === "error" || family === "gate.refusal") continue;
      assert.ok(DYNAMIC[family], `${file}: keys made as ${family}.\${…} are not listed in DYNAMIC`);
    }
  }
  for (const [family, values] of Object.entries(DYNAMIC)) {
    for (const value of values) if (!(`${family}.${value}` in en)) missing.push(`${family}.${value}`);
  }
  assert.deepEqual(missing, []);
});

/** Rust source files of a directory, recursively. */
function* rustFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* rustFiles(path);
    else if (path.endsWith(".rs")) yield path;
  }
}

/**
 * Where refusals the pages cannot meet are made: the operator's ledger API and the ledger's
 * own results (no page calls them), the command line, the store, the EMVCo parser's reasons
 * (they reach the pages as `qr_invalid`, with the reason in its details) and the transit
 * crate's codes (the gate page decides with its own table, checked below; uploaded taps come
 * back as counts).
 */
const NOT_FROM_PAGES = [/^crates\/(ledger|cli|store|testkit|transit)\//, /\/ledger_api\.rs$/, /emvqr\/src\/error\.rs$/];

/** The stable error codes the server answers with, from the Rust sources: the `code` of
 * `ApiError`/`ServiceError` constructors, of id kinds, (or of the (code, message) a match picks for one), and
 * the `code()` of the parsers' error types. */
function errorCodes() {
  const codes = new Map();
  for (const crate of readdirSync("crates")) {
    const src = join("crates", crate, "src");
    try { statSync(src); } catch (_) { continue; }
    for (const file of rustFiles(src)) {
      if (NOT_FROM_PAGES.some((pattern) => pattern.test(file))) continue;
      let text = readFileSync(file, "utf8");
      const tests = text.search(/#\[cfg\(test\)\]\s*mod tests/);
      if (tests >= 0) text = text.slice(0, tests);
      const add = (code) => codes.set(code, [...(codes.get(code) || []), file]);
      for (const [, code] of text.matchAll(/(?:StatusCode|ErrorKind)::\w+,\s*"([a-z][a-z0-9_]*)"/g)) add(code);
      for (const [, code] of text.matchAll(/(?:ServiceError::\w+|ApiError::\w+|SigningError::new|\bbad|\bnot_found|\bunauthorized)\(\s*"([a-z][a-z0-9_]*)"/g)) add(code);
      // An id kind's "not found" (`id_kinds! { Card(CardId) = ("card_not_found", "…"); }`).
      for (const [, code] of text.matchAll(/\w+\(\w+Id\)\s*=\s*\(\s*"([a-z][a-z0-9_]*)",\s*"/g)) add(code);
      // A code picked in a match as (code, message), then made into the error.
      for (const [, code] of text.matchAll(/=>\s*\(\s*"([a-z][a-z0-9_]*)",\s*"/g)) add(code);
      for (const [, body] of text.matchAll(/fn code\([^)]*\)\s*->\s*&'static str\s*\{([\s\S]*?)\n {4}\}/g)) {
        for (const [, code] of body.matchAll(/"([a-z][a-z0-9_]*)"/g)) add(code);
      }
    }
  }
  return codes;
}

test("every refusal the pages can meet has words in both languages", () => {
  const { en, zh } = tables();
  const codes = errorCodes();
  assert.ok(codes.size > 100, `only ${codes.size} error codes found: has the way errors are made changed?`);
  for (const known of ["order_already_paid", "pin_locked", "qr_invalid", "invalid_phone", "insufficient_balance", "paycode_invalid"]) {
    assert.ok(codes.has(known), `${known} not found in the sources`);
  }
  const missing = [...codes].filter(([code]) => !(`error.${code}` in en) || !(`error.${code}` in zh))
    .map(([code, files]) => `${code} (${[...new Set(files)].join(", ")})`);
  assert.deepEqual(missing, [], "add error.<code> to lang/en.js and lang/zh.js");
});

test("no words are kept for refusals the server no longer makes", () => {
  const { en } = tables();
  const codes = errorCodes();
  // Made by the pages themselves: no connection; a refusal without a code.
  const ours = new Set(["offline", "unknown"]);
  const stale = [...new Set(Object.keys(en).filter((key) => key.startsWith("error.")).map((key) => key.split(".")[1]))]
    .filter((code) => !codes.has(code) && !ours.has(code));
  assert.deepEqual(stale, [], "drop error.<code> from lang/en.js and lang/zh.js");
});

test("every reason a gate refuses has words in both languages", () => {
  const { en, zh } = tables();
  const source = readFileSync("crates/transit/src/gate.rs", "utf8");
  const body = /fn code\(self\) -> &'static str \{([\s\S]*?)\n {4}\}/.exec(source)[1];
  const reasons = [...body.matchAll(/"([a-z_]+)"/g)].map((match) => match[1]);
  assert.ok(reasons.includes("replay"));
  const missing = reasons.filter((reason) => !(`gate.refusal.${reason}` in en) || !(`gate.refusal.${reason}` in zh));
  assert.deepEqual(missing, []);
});

test("the browser's language chooses: zh* is Chinese, anything else English", () => {
  assert.equal(i18n(["zh-CN", "en"]).lang, "zh");
  assert.equal(i18n(["zh-TW"]).lang, "zh");
  assert.equal(i18n(["en-GB", "zh-CN"]).lang, "en");
  assert.equal(i18n(["fr-FR", "zh-CN"]).lang, "zh");
  assert.equal(i18n(["de-DE"]).lang, "en");
});

test("money is formatted from its decimal string, exactly, in both languages", () => {
  const en = i18n(["en-US"]);
  const zh = i18n(["zh-CN"]);
  assert.equal(en.money({ amount: "2000.00", currency: "CNY" }), "2,000.00 CNY");
  assert.equal(zh.money({ amount: "2000.00", currency: "CNY" }), "2,000.00 元");
  assert.equal(zh.money({ amount: "20.00", currency: "USD" }), "20.00 美元");
  assert.equal(en.money({ amount: "-18.50", currency: "CNY" }), "−18.50 CNY");
  assert.equal(en.amount("0.05"), "0.05");
  // Beyond a double's 15–17 digits: a float would have rounded these.
  assert.equal(en.amount("92233720368547758.07"), "92,233,720,368,547,758.07");
  assert.equal(zh.amount("12345678901234567.89"), "12,345,678,901,234,567.89");
  assert.equal(en.amount("0.10"), "0.10", "the API's digits stay");
});

test("a refusal is our words for a known code, the server's sentence for an unknown one", () => {
  const zh = i18n(["zh-CN"]);
  assert.equal(zh.refusal("order_already_paid", undefined, "this order is already paid"), "这个订单已付款：无需再付。");
  assert.match(zh.refusal("pin_incorrect", { attempts_left: 2 }, "x"), /2 次/);
  assert.equal(zh.refusal("pin_incorrect", undefined, "x"), "支付密码错误。", "no details: the plain words");
  assert.equal(zh.refusal("something_new", undefined, "the server says so"), "The server says so.");
  const en = i18n(["en"]);
  assert.match(en.refusal("insufficient_balance", { available: { amount: "12.30", currency: "CNY" } }, "x"), /12\.30 CNY/);
  const unlock = en.refusal("pin_locked", { locked_until: "2026-12-05T16:35:18.632347454Z" }, "x");
  assert.doesNotMatch(unlock, /2026-12-05T|\.632347454Z/, "the unlock time reads as a time");
  assert.match(unlock, /\d{1,2}:\d\d/);
});
