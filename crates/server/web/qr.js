// A QR code encoder (ISO/IEC 18004), small on purpose: versions 1 to 15, error correction
// level M, numeric, alphanumeric or byte mode — enough for the 18-digit payment code, the
// transit ride code (300 alphanumeric characters: version 10) and an EMVCo order code
// (~300 bytes). It runs in the page so the payment code can be drawn with the
// network off.
"use strict";

const QR = (() => {
  // Level M, per version: [EC codewords per block, blocks of group 1, their data codewords,
  // blocks of group 2, theirs].
  const BLOCKS_M = [null,
    [10, 1, 16, 0, 0], [16, 1, 28, 0, 0], [26, 1, 44, 0, 0], [18, 2, 32, 0, 0], [24, 2, 43, 0, 0],
    [16, 4, 27, 0, 0], [18, 4, 31, 0, 0], [22, 2, 38, 2, 39], [22, 3, 36, 2, 37], [26, 4, 43, 1, 44],
    [30, 1, 50, 4, 51], [22, 6, 36, 2, 37], [22, 8, 37, 1, 38], [24, 4, 40, 5, 41], [24, 5, 41, 5, 42]];
  const ALIGNMENT = [null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42],
    [6, 26, 46], [6, 28, 50], [6, 30, 54], [6, 32, 58], [6, 34, 62], [6, 26, 46, 66], [6, 26, 48, 70]];
  const dataCapacity = (version) => {
    const [, b1, d1, b2, d2] = BLOCKS_M[version];
    return b1 * d1 + b2 * d2;
  };

  // GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
  const EXP = new Uint8Array(512);
  const LOG = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
  const mul = (a, b) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);

  /** Reed-Solomon error correction codewords of `data`. */
  function correction(data, count) {
    let generator = [1];
    for (let i = 0; i < count; i++) {
      const next = new Array(generator.length + 1).fill(0);
      generator.forEach((coefficient, j) => {
        next[j] ^= coefficient;
        next[j + 1] ^= mul(coefficient, EXP[i]);
      });
      generator = next;
    }
    const remainder = new Array(count).fill(0);
    for (const byte of data) {
      const factor = byte ^ remainder.shift();
      remainder.push(0);
      for (let j = 0; j < count; j++) remainder[j] ^= mul(generator[j + 1], factor);
    }
    return remainder;
  }

  const ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

  function bitsOf(text, version) {
    const bits = [];
    const put = (value, length) => {
      for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1);
    };
    if (/^\d+$/.test(text)) {
      put(0b0001, 4);
      put(text.length, version < 10 ? 10 : 12);
      for (let i = 0; i < text.length; i += 3) {
        const group = text.slice(i, i + 3);
        put(Number(group), group.length * 3 + 1);
      }
    } else if (/^[0-9A-Z $%*+\-./:]+$/.test(text)) {
      const value = (c) => ALPHANUMERIC.indexOf(c);
      put(0b0010, 4);
      put(text.length, version < 10 ? 9 : 11);
      for (let i = 0; i + 1 < text.length; i += 2) put(value(text[i]) * 45 + value(text[i + 1]), 11);
      if (text.length % 2) put(value(text[text.length - 1]), 6);
    } else {
      const bytes = new TextEncoder().encode(text);
      put(0b0100, 4);
      put(bytes.length, version < 10 ? 8 : 16);
      bytes.forEach((byte) => put(byte, 8));
    }
    const capacity = dataCapacity(version) * 8;
    if (bits.length > capacity) return null;
    put(0, Math.min(4, capacity - bits.length));
    while (bits.length % 8) bits.push(0);
    const codewords = [];
    for (let i = 0; i < bits.length; i += 8) codewords.push(parseInt(bits.slice(i, i + 8).join(""), 2));
    for (let pad = 0xec; codewords.length < dataCapacity(version); pad ^= 0xec ^ 0x11) codewords.push(pad);
    return codewords;
  }

  /** The interleaved data and correction codewords. */
  function codewords(data, version) {
    const [ecCount, b1, d1, b2, d2] = BLOCKS_M[version];
    const dataBlocks = [];
    let at = 0;
    for (let b = 0; b < b1 + b2; b++) {
      const length = b < b1 ? d1 : d2;
      dataBlocks.push(data.slice(at, at + length));
      at += length;
    }
    const ecBlocks = dataBlocks.map((block) => correction(block, ecCount));
    const out = [];
    for (let i = 0; i < Math.max(d1, d2); i++) dataBlocks.forEach((block) => { if (i < block.length) out.push(block[i]); });
    for (let i = 0; i < ecCount; i++) ecBlocks.forEach((block) => out.push(block[i]));
    return out;
  }

  function matrix(version, stream, mask) {
    const size = 17 + 4 * version;
    const dark = Array.from({ length: size }, () => new Array(size).fill(false));
    const fixed = Array.from({ length: size }, () => new Array(size).fill(false));
    const set = (x, y, value) => {
      dark[y][x] = value;
      fixed[y][x] = true;
    };
    // Finder patterns with their separators.
    for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          if (x < 0 || y < 0 || x >= size || y >= size) continue;
          const ring = Math.max(Math.abs(dx), Math.abs(dy));
          set(x, y, ring !== 2 && ring !== 4);
        }
      }
    }
    // Timing patterns.
    for (let i = 8; i < size - 8; i++) {
      set(i, 6, i % 2 === 0);
      set(6, i, i % 2 === 0);
    }
    // Alignment patterns (not over the finders).
    const centres = ALIGNMENT[version];
    for (const cy of centres) {
      for (const cx of centres) {
        if ((cx === 6 && cy === 6) || (cx === 6 && cy === size - 7) || (cx === size - 7 && cy === 6)) continue;
        for (let dy = -2; dy <= 2; dy++) {
          for (let dx = -2; dx <= 2; dx++) set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
        }
      }
    }
    // Format information (level M = 00), both copies, and the dark module.
    const data = mask;
    let remainder = data;
    for (let i = 0; i < 10; i++) remainder = (remainder << 1) ^ ((remainder >>> 9) * 0x537);
    const format = ((data << 10) | remainder) ^ 0x5412;
    const bit = (i) => ((format >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i++) set(8, i, bit(i));
    set(8, 7, bit(6));
    set(8, 8, bit(7));
    set(7, 8, bit(8));
    for (let i = 9; i < 15; i++) set(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i++) set(size - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i++) set(8, size - 15 + i, bit(i));
    set(8, size - 8, true);
    // Version information (version 7 and up), both copies.
    if (version >= 7) {
      let rem = version;
      for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
      const info = (version << 12) | rem;
      for (let i = 0; i < 18; i++) {
        const on = ((info >>> i) & 1) === 1;
        const a = size - 11 + (i % 3);
        const b = Math.floor(i / 3);
        set(a, b, on);
        set(b, a, on);
      }
    }

    // Data, in the zigzag from the bottom right, masked.
    const flip = [
      (x, y) => (x + y) % 2 === 0,
      (x, y) => y % 2 === 0,
      (x) => x % 3 === 0,
      (x, y) => (x + y) % 3 === 0,
      (x, y) => (Math.floor(y / 2) + Math.floor(x / 3)) % 2 === 0,
      (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
      (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
      (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
    ][mask];
    let index = 0;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let vertical = 0; vertical < size; vertical++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          const upward = ((right + 1) & 2) === 0;
          const y = upward ? size - 1 - vertical : vertical;
          if (fixed[y][x]) continue;
          const on = index < stream.length * 8 && ((stream[index >>> 3] >>> (7 - (index & 7))) & 1) === 1;
          dark[y][x] = on !== flip(x, y);
          index++;
        }
      }
    }
    return dark;
  }

  /** ISO 18004's penalty, to choose the mask that reads best. */
  function penalty(dark) {
    const size = dark.length;
    let score = 0;
    const lines = [];
    for (let i = 0; i < size; i++) {
      lines.push(dark[i]);
      lines.push(dark.map((row) => row[i]));
    }
    for (const line of lines) {
      let run = 1;
      for (let i = 1; i <= size; i++) {
        if (i < size && line[i] === line[i - 1]) {
          run++;
        } else {
          if (run >= 5) score += 3 + (run - 5);
          run = 1;
        }
      }
      const text = line.map((on) => (on ? "1" : "0")).join("");
      for (const pattern of ["10111010000", "00001011101"]) {
        for (let at = text.indexOf(pattern); at !== -1; at = text.indexOf(pattern, at + 1)) score += 40;
      }
    }
    let darkCount = 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (dark[y][x]) darkCount++;
        if (x + 1 < size && y + 1 < size) {
          const c = dark[y][x];
          if (c === dark[y][x + 1] && c === dark[y + 1][x] && c === dark[y + 1][x + 1]) score += 3;
        }
      }
    }
    const percent = (darkCount * 100) / (size * size);
    score += Math.floor(Math.abs(percent - 50) / 5) * 10;
    return score;
  }

  /** The modules of the smallest symbol holding `text`: rows of booleans (true = dark). */
  function encode(text) {
    for (let version = 1; version < BLOCKS_M.length; version++) {
      const data = bitsOf(text, version);
      if (!data) continue;
      const stream = codewords(data, version);
      let best = null;
      for (let mask = 0; mask < 8; mask++) {
        const candidate = matrix(version, stream, mask);
        const score = penalty(candidate);
        if (!best || score < best.score) best = { score, modules: candidate };
      }
      return best.modules;
    }
    throw new Error("too long for a small QR code");
  }

  /** An SVG drawing of `text`, with the 4-module quiet zone. */
  function svg(text, label) {
    const modules = encode(text);
    const size = modules.length + 8;
    const ns = "http://www.w3.org/2000/svg";
    const root = document.createElementNS(ns, "svg");
    root.setAttribute("viewBox", `0 0 ${size} ${size}`);
    root.setAttribute("shape-rendering", "crispEdges");
    root.setAttribute("role", "img");
    root.setAttribute("aria-label", label);
    const background = document.createElementNS(ns, "rect");
    background.setAttribute("width", size);
    background.setAttribute("height", size);
    background.setAttribute("fill", "#fff");
    const path = document.createElementNS(ns, "path");
    let d = "";
    modules.forEach((row, y) => row.forEach((on, x) => { if (on) d += `M${x + 4} ${y + 4}h1v1h-1z`; }));
    path.setAttribute("d", d);
    path.setAttribute("fill", "#000");
    root.append(background, path);
    return root;
  }

  return { encode, svg };
})();

// Code 128, code set C only (pairs of digits): the barcode under the payment code, for
// tills with a laser scanner. Each symbol is bar/space widths in modules, bar first.
const Barcode = (() => {
  const PATTERNS = (
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 " +
    "221312 231212 112232 122132 122231 113222 123122 123221 223211 221132 " +
    "221231 213212 223112 312131 311222 321122 321221 312212 322112 322211 " +
    "212123 212321 232121 111323 131123 131321 112313 132113 132311 211313 " +
    "231113 231311 112133 112331 132131 113123 113321 133121 313121 211331 " +
    "231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 " +
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 " +
    "112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 " +
    "111242 121142 121241 114212 124112 124211 411212 421112 421211 212141 " +
    "214121 412121 111143 111341 131141 114113 114311 411113 411311 113141 " +
    "114131 311141 411131 211412 211214 211232 2331112"
  ).split(" ");
  const START_C = 105;
  const STOP = 106;

  /** The widths of `digits` (an even count) as Code 128-C, quiet zones excluded. */
  function widths(digits) {
    if (!/^(\d\d)+$/.test(digits)) throw new Error("code set C takes pairs of digits");
    const values = [START_C];
    for (let i = 0; i < digits.length; i += 2) values.push(Number(digits.slice(i, i + 2)));
    const check = values.reduce((sum, value, i) => sum + value * Math.max(i, 1), 0) % 103;
    values.push(check, STOP);
    return values.flatMap((value) => [...PATTERNS[value]].map(Number));
  }

  function svg(digits, label) {
    const bars = widths(digits);
    const quiet = 10;
    const total = bars.reduce((sum, width) => sum + width, 0) + 2 * quiet;
    const ns = "http://www.w3.org/2000/svg";
    const root = document.createElementNS(ns, "svg");
    root.setAttribute("viewBox", `0 0 ${total} 40`);
    root.setAttribute("preserveAspectRatio", "none");
    root.setAttribute("shape-rendering", "crispEdges");
    root.setAttribute("role", "img");
    root.setAttribute("aria-label", label);
    const background = document.createElementNS(ns, "rect");
    background.setAttribute("width", total);
    background.setAttribute("height", 40);
    background.setAttribute("fill", "#fff");
    root.append(background);
    let x = quiet;
    let d = "";
    bars.forEach((width, i) => {
      if (i % 2 === 0) d += `M${x} 0h${width}v40h-${width}z`;
      x += width;
    });
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "#000");
    root.append(path);
    return root;
  }

  return { widths, svg };
})();
