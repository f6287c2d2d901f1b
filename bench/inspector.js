// @ts-check
// Reads a node's memory from outside through its inspector (the node runs with
// --inspect=127.0.0.1:PORT --expose-gc), so the gateway needs no hook of its own for a benchmark.
const WebSocket = require('ws');

/** @typedef {{ rss: number, heapTotal: number, heapUsed: number, external: number, arrayBuffers: number }} Memory */

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
  /** @param {string} expression @returns {Promise<unknown>} */
  const evaluate = (expression) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      waiting.set(n, (msg) => (msg.error || msg.result?.exceptionDetails ? reject(new Error(JSON.stringify(msg.error ?? msg.result.exceptionDetails))) : resolve(msg.result.result.value)));
      ws.send(JSON.stringify({ id: n, method: 'Runtime.evaluate', params: { expression, returnByValue: true } }));
    });
  return {
    /** @param {{ gc: boolean }} o @returns {Promise<Memory>} */
    async memory({ gc }) {
      // Twice: the first pass can leave objects whose finalizers free more on the second.
      const text = await evaluate(`${gc ? 'gc(); gc(); ' : ''}JSON.stringify(process.memoryUsage())`);
      return JSON.parse(String(text));
    },
    close: () => ws.close(),
  };
}

module.exports = { attach };
