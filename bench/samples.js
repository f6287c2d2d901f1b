// @ts-check
// Latency samples and the send stamp every benchmark puts at the start of a token's text.
const { performance } = require('node:perf_hooks');

/** Latency samples in ms, appended to a growing Float64Array. */
class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.length = 0;
  }
  /** @param {number} ms */
  add(ms) {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = ms;
  }
  /** @param {number[]} ps percentiles, 0..100 @returns {number[]} */
  percentiles(ps) {
    const sorted = this.values.slice(0, this.length).sort();
    return ps.map((p) => (sorted.length ? /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]) : NaN));
  }
}

/** The median of some figures (of an even count, the mean of the middle two); NaN of none. @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** Now, in ms, as the text stamped into a token. */
const stamp = () => performance.now().toFixed(3);

module.exports = { Samples, median, stamp };
