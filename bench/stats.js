// Small helpers shared by the benchmark scripts.
'use strict';
const os = require('os');

/** The median of an array of numbers (NaN for an empty one). */
function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

/** os.loadavg() rounded to two decimals: recorded beside every timing. */
const loadAverage = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

module.exports = { median, loadAverage };
