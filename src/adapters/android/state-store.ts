import type { AdapterServices } from '../../core/adapter.js';
import { readAgentState, type AgentState } from './state.js';

// Loads and saves the Android per-device state. The challenges kept there (so
// the same one is served until it is used) are live credentials: whoever
// reads one from the database could enroll a certificate in the device's
// name before the device does. So they are stored sealed (AES-256-GCM under
// DATA/secrets.key, services.secrets), like every other secret in the
// database; a stored challenge that does not open (from before sealing, or
// another key) is dropped and a fresh one is minted.

export async function loadAgentState(s: Pick<AdapterServices, 'state' | 'secrets'>, deviceId: string): Promise<AgentState> {
  return agentStateFrom(s, await s.state.get(deviceId));
}

/** The state from the stored document as read (s.state.get), challenges opened. */
export function agentStateFrom(s: Pick<AdapterServices, 'secrets'>, raw: Record<string, unknown> | null): AgentState {
  const state = readAgentState(raw);
  const challenges: AgentState['challenges'] = {};
  for (const [id, c] of Object.entries(state.challenges)) {
    const challenge = s.secrets.open(c.challenge);
    if (challenge !== null) challenges[id] = { ...c, challenge };
  }
  return { ...state, challenges };
}

export async function saveAgentState(s: Pick<AdapterServices, 'state' | 'secrets'>, deviceId: string, state: AgentState): Promise<void> {
  await s.state.put(deviceId, sealAgentState(s, state));
}

/** The state as stored: every challenge sealed. */
export function sealAgentState(s: Pick<AdapterServices, 'secrets'>, state: AgentState): Record<string, unknown> {
  const challenges = Object.fromEntries(Object.entries(state.challenges).map(([id, c]) => [id, { ...c, challenge: s.secrets.seal(c.challenge) }]));
  return { ...state, challenges };
}
