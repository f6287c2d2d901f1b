import { randomBytes } from 'node:crypto';

function secret(): string {
  return randomBytes(18).toString('base64url').replace(/[-_]/g, 'x');
}

/** A registry for tests: three apps, two agents, fresh tokens each time. */
export function testRegistry(overrides: { apps?: Record<string, object>; agents?: Record<string, object> } = {}) {
  const tokens = {
    portal: `rlk_portal_${secret()}`,
    flow: `rlk_flow_${secret()}`,
    academy: `rlk_academy_${secret()}`,
    athena: `rla_athena_${secret()}`,
    klyve: `rla_klyve_${secret()}`,
  };
  const registry = {
    apps: [
      { id: 'portal', name: 'Portal', tokens: [tokens.portal], ...overrides.apps?.portal },
      { id: 'flow', name: 'Flow', tokens: [tokens.flow], ...overrides.apps?.flow },
      // academy is registered but allowlisted for no agent
      { id: 'academy', name: 'Academy', tokens: [tokens.academy], ...overrides.apps?.academy },
    ],
    agents: [
      {
        id: 'athena',
        name: 'Athena',
        description: 'Summarizes discussions',
        tokens: [tokens.athena],
        allow_apps: ['portal', 'flow'],
        ...overrides.agents?.athena,
      },
      {
        id: 'klyve',
        name: 'Klyve',
        description: 'Plans tasks',
        tokens: [tokens.klyve],
        allow_apps: ['portal'],
        ...overrides.agents?.klyve,
      },
    ],
  };
  return { registry, tokens };
}
