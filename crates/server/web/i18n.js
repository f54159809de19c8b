// The pages' words in each language and the switch between them. Every word a page shows is in
// lang/en.js and lang/zh.js under a key; `t(key, params)` picks it in the chosen language.
// The language follows the browser (navigator.languages: the first Chinese or English one
// wins; neither: English) until the person picks one with the switch (kept in localStorage).
// Money is formatted from the API's decimal strings, never through floating point.
"use strict";

const I18n = (() => {
  const tables = window.CASHLESS_LANG || {};
  const CHOICE_KEY = "cashless.lang";
  /** Our languages and the BCP 47 tag each formats with (and sets as <html lang>). */
  const TAGS = { en: "en", zh: "zh-CN" };

  /** The language from the person's choice, else from the browser's list. */
  function initial() {
    const kept = localStorage.getItem(CHOICE_KEY);
    if (kept && TAGS[kept]) return kept;
    const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    for (const tag of wanted) {
      const lower = String(tag).toLowerCase();
      if (lower.startsWith("zh")) return "zh";
      if (lower.startsWith("en")) return "en";
    }
    return "en";
  }

  let lang = initial();
  let titleKey = null;
  let changed = null;

  const tag = () => TAGS[lang];
  const plurals = {};
  const pluralOf = (count) => (plurals[lang] ||= new Intl.PluralRules(tag())).select(Number(count));

  /** The text of `key`; a missing key is a bug (said in the console) and shows the English. */
  function template(key, params) {
    let text = tables[lang] && tables[lang][key];
    if (text === undefined) {
      console.error(`i18n: no "${key}" in lang/${lang}.js`);
      text = tables.en && tables.en[key] !== undefined ? tables.en[key] : key;
    }
    if (typeof text === "object") text = text[pluralOf(params && params.count)] || text.other;
    return text;
  }

  /** `key`'s text with its `{name}`s filled from `params`. */
  function t(key, params) {
    return template(key, params).replace(/\{(\w+)\}/g, (whole, name) =>
      params && params[name] !== undefined && params[name] !== null ? String(params[name]) : whole);
  }

  /** Like t, but a param may be a DOM node (a link, a <code>): the parts, for h(). */
  function parts(key, params) {
    const out = [];
    const text = template(key, params);
    let at = 0;
    for (const match of text.matchAll(/\{(\w+)\}/g)) {
      out.push(text.slice(at, match.index));
      const value = params ? params[match[1]] : undefined;
      out.push(value === undefined || value === null ? match[0] : value instanceof Node ? value : String(value));
      at = match.index + match[0].length;
    }
    out.push(text.slice(at));
    return out.filter((part) => part !== "");
  }

  const has = (key) => Boolean(tables[lang]) && tables[lang][key] !== undefined;

  // ---- numbers, money and dates --------------------------------------------------------

  /** "2000.00" → "2,000.00" in the language's grouping. The string goes to Intl as it is
   * (Intl.NumberFormat takes decimal strings exactly); should an engine ever round it, the
   * digits would differ, and the string is grouped by hand instead. */
  function amount(text) {
    const parsed = /^([-+]?)(\d+)(?:\.(\d+))?$/.exec(String(text).trim());
    if (!parsed) return String(text);
    const [, sign, whole, fraction = ""] = parsed;
    const digits = fraction.length;
    let out = new Intl.NumberFormat(tag(), { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: true })
      .format(`${whole}${digits ? `.${fraction}` : ""}`);
    const exact = `${whole.replace(/^0+(?=\d)/, "")}${fraction}`;
    if (out.replace(/\D/g, "") !== exact) {
      out = `${whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${digits ? `.${fraction}` : ""}`;
    }
    return sign === "-" && /[1-9]/.test(exact) ? `−${out}` : out;
  }

  /** A currency's word: from the table where it has one (元, CNY), else its ISO code. */
  const currency = (code) => (has(`currency.${code}`) ? t(`currency.${code}`) : code);

  /** `{ amount: "2000.00", currency: "CNY" }` → "2,000.00 CNY" (English), "2,000.00 元" (中文). */
  const money = (value) => `${amount(value.amount)} ${currency(value.currency)}`;

  /** A count, grouped. */
  const number = (value, fractionDigits = 0) =>
    new Intl.NumberFormat(tag(), { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits }).format(value);

  const formats = {};
  const format = (name, options) => (formats[`${lang}|${name}`] ||= new Intl.DateTimeFormat(tag(), options));

  /** An RFC 3339 time in this browser's time zone: "Dec 5, 16:35" (or "12月5日 16:35"). */
  function dateTime(rfc3339) {
    const date = new Date(rfc3339);
    if (Number.isNaN(date.getTime())) return String(rfc3339);
    return format("dateTime", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }).format(date);
  }

  /** A moment to come: just the time when it is today here, else the date and time. */
  function moment(rfc3339) {
    const date = new Date(rfc3339);
    if (Number.isNaN(date.getTime())) return String(rfc3339);
    const today = new Date();
    const sameDay = date.getFullYear() === today.getFullYear() && date.getMonth() === today.getMonth()
      && date.getDate() === today.getDate();
    return sameDay ? format("time", { hour: "2-digit", minute: "2-digit" }).format(date) : dateTime(rfc3339);
  }

  /** A calendar day ("2026-12-05") as the language writes it. */
  function day(text) {
    const parsed = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(text));
    if (!parsed) return String(text);
    const date = new Date(Date.UTC(Number(parsed[1]), Number(parsed[2]) - 1, Number(parsed[3])));
    return format("day", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" }).format(date);
  }

  // ---- refusals from the API -------------------------------------------------------------

  /** The refusal's details as words for the message's `{name}`s. */
  function detailParams(details) {
    const params = {};
    for (const [name, value] of Object.entries(details || {})) {
      if (value && typeof value === "object" && "amount" in value && "currency" in value) params[name] = money(value);
      else if (Array.isArray(value)) params[name] = value.join(" / ");
      else if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) params[name] = moment(value);
      else if (typeof value === "number") params[name] = number(value);
      else if (value !== null && typeof value !== "object") params[name] = String(value);
    }
    return params;
  }

  /** The words for a refusal: ours for a code we know (error.<code> in the tables; its
   * ".plain" form when the refusal lacks the details its {names} need), else the server's own
   * message as a sentence. */
  function refusal(code, details, serverMessage) {
    const params = detailParams(details);
    const key = `error.${code}`;
    // A refusal of a known kind may have words of its own (error.qr_invalid.web_link).
    const variant = details && (details.kind || details.reason);
    const specific = variant ? `${key}.${variant}` : null;
    const words = (chosen) => {
      const filled = t(chosen, params);
      return /\{\w+\}/.test(filled) && has(`${chosen}.plain`) ? t(`${chosen}.plain`, params) : filled;
    };
    if (specific && has(specific)) return words(specific);
    if (has(key)) return words(key);
    const trimmed = String(serverMessage || t("error.unknown")).trim();
    const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?。！？]$/.test(capital) ? capital : `${capital}.`;
  }

  // ---- the language switch -----------------------------------------------------------------

  /** <html lang> and the title follow the language. */
  function apply() {
    document.documentElement.lang = tag();
    if (titleKey) document.title = t(titleKey);
  }

  /** Which page this is (its title key) and what redraws it in another language. */
  function page(title, redraw) {
    titleKey = title;
    changed = redraw;
    apply();
  }

  function use(next) {
    if (!TAGS[next] || next === lang) return;
    lang = next;
    localStorage.setItem(CHOICE_KEY, next);
    apply();
    if (changed) changed();
  }

  /** A button to the other language, named in that language. */
  function switcher() {
    const other = lang === "zh" ? "en" : "zh";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "lang-switch";
    button.id = "lang-switch";
    button.lang = TAGS[other];
    button.textContent = tables[other] ? tables[other]["lang.name"] : other;
    button.title = t("lang.switch");
    button.addEventListener("click", () => use(other));
    return button;
  }

  return {
    t, parts, has, amount, money, currency, number, dateTime, moment, day, refusal, page, use, switcher,
    get lang() { return lang; },
  };
})();

const t = I18n.t;
