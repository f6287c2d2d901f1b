import { randomBytes } from 'node:crypto';
import type { Role } from '@relay/protocol';

function secret(): string {
  return randomBytes(18).toString('base64url').replace(/[-_]/g, 'x');
}

/** The test registry's apps (portal, flow, academy) and agents (athena, klyve). */
export type Principal = 'portal' | 'flow' | 'academy' | 'athena' | 'klyve';
export type Tokens = Record<Principal, string>;
/** Fields that replace the defaults of an app or agent, by id. */
export interface RegistryOverrides {
  apps?: Record<string, object>;
  agents?: Record<string, object>;
}

export const roleOf = (principal: Principal): Role => (principal === 'athena' || principal === 'klyve' ? 'agent' : 'app');

/**
 * A registry for tests: three apps, two agents, fresh tokens each time. Overrides given as a
 * function are made from those tokens (to register a token's hash instead of the token, say).
 */
export function testRegistry(overrides: RegistryOverrides | ((tokens: Tokens) => RegistryOverrides) = {}) {
  const tokens: Tokens = {
    portal: `rlk_portal_${secret()}`,
    flow: `rlk_flow_${secret()}`,
    academy: `rlk_academy_${secret()}`,
    athena: `rla_athena_${secret()}`,
    klyve: `rla_klyve_${secret()}`,
  };
  const fields = typeof overrides === 'function' ? overrides(tokens) : overrides;
  const registry = {
    apps: [
      { id: 'portal', name: 'Portal', tokens: [tokens.portal], ...fields.apps?.portal },
      { id: 'flow', name: 'Flow', tokens: [tokens.flow], ...fields.apps?.flow },
      // academy is registered but allowlisted for no agent
      { id: 'academy', name: 'Academy', tokens: [tokens.academy], ...fields.apps?.academy },
    ],
    agents: [
      {
        id: 'athena',
        name: 'Athena',
        description: 'Summarizes discussions',
        tokens: [tokens.athena],
        allow_apps: ['portal', 'flow'],
        ...fields.agents?.athena,
      },
      {
        id: 'klyve',
        name: 'Klyve',
        description: 'Plans tasks',
        tokens: [tokens.klyve],
        allow_apps: ['portal'],
        ...fields.agents?.klyve,
      },
    ],
  };
  return { registry, tokens };
}
