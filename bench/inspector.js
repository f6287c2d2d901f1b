// @ts-check
// Reads a node's memory from outside through its inspector (the node runs with
// --inspect=127.0.0.1:PORT --expose-gc), so the gateway needs no hook of its own for a benchmark.
const WebSocket = require('ws');

/**
 * process.memoryUsage(), and `young`: the bytes of V8's young generation (new space) resident.
 * @typedef {{ rss: number, heapTotal: number, heapUsed: number, external: number, arrayBuffers: number, young: number }} Memory
 */

/** @param {number} port */
async function attach(port) {
  const targets = /** @type {{ webSocketDebuggerUrl: string }[]} */ (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json());
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  /** @type {Map<number, (value: any) => void>} */
  const waiting = new Map();
  ws.on('message', (/** @type {Buffer} */ data) => {
    const msg = JSON.parse(data.toString());
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  });
  /** @param {string} method @param {object} params @returns {Promise<any>} the result */
  const post = (method, params) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      waiting.set(n, (msg) => (msg.error || msg.result?.exceptionDetails ? reject(new Error(JSON.stringify(msg.error ?? msg.result.exceptionDetails))) : resolve(msg.result)));
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  /** @param {string} expression @returns {Promise<unknown>} */
  const evaluate = async (expression) => (await post('Runtime.evaluate', { expression, returnByValue: true })).result.value;
  return {
    /** @param {{ gc: boolean }} o @returns {Promise<Memory>} */
    async memory({ gc }) {
      // Twice: the first pass can leave objects whose finalizers free more on the second.
      const young = "process.mainModule.require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').physical_space_size";
      const text = await evaluate(`${gc ? 'gc(); gc(); ' : ''}JSON.stringify({ ...process.memoryUsage(), young: ${young} })`);
      return JSON.parse(String(text));
    },
    /** Samples every allocation from now on, garbage included (V8's sampling heap profiler). */
    startAllocations: () =>
      post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
    /** @returns {Promise<{ name: string, bytes: number }[]>} bytes allocated per function (self), largest first */
    async stopAllocations() {
      const { profile } = await post('HeapProfiler.getSamplingProfile', {});
      await post('HeapProfiler.stopSampling', {});
      /** @type {Map<string, number>} */
      const bytes = new Map();
      /** @param {any} node */
      const walk = (node) => {
        const f = node.callFrame;
        const at = `${f.functionName || '(anonymous)'} ${String(f.url).replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
        bytes.set(at, (bytes.get(at) ?? 0) + node.selfSize);
        for (const child of node.children ?? []) walk(child);
      };
      walk(profile.head);
      return [...bytes].map(([name, b]) => ({ name, bytes: b })).sort((a, b) => b.bytes - a.bytes);
    },
    close: () => ws.close(),
  };
}

module.exports = { attach };
