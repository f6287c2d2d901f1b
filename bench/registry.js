// @ts-check
// The registry every cluster benchmark runs with.
const { randomBytes } = require('node:crypto');

/** A registry of N apps and N agents, agent i serving app i only, limits out of the way. */
function registry(/** @type {number} */ n, /** @type {number} */ inflight) {
  const secret = () => randomBytes(18).toString('hex');
  const pairs = Array.from({ length: n }, (_, i) => ({
    app: { id: `app${i}`, token: `rlk_app${i}_${secret()}` },
    agent: { id: `agent${i}`, token: `rla_agent${i}_${secret()}` },
  }));
  const file = {
    apps: pairs.map(({ app }) => ({ id: app.id, tokens: [app.token], rate_limit_per_min: 10_000_000 })),
    agents: pairs.map(({ app, agent }) => ({
      id: agent.id,
      tokens: [agent.token],
      allow_apps: [app.id],
      max_in_flight: Math.max(64, inflight),
    })),
  };
  return { pairs, file };
}

module.exports = { registry };
