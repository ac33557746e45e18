import type { ClientCommand } from './syncml-message.js';
import type { StatusOut } from './syncml-build.js';

// The Status the server returns for each client command (MS-MDM over SyncML 1.2;
// status codes from the table in oma-dm-protocol-support.md):
// - an element with no CmdID: 400 with a blank CmdRef ("If no CmdID is provided
//   in the DM command, ... blank in the status element and the status code 400");
// - an element that is not a SyncML command: 400 ("If an XML element that isn't a
//   valid OMA DM command is under SyncBody ... 400");
// - a SyncML command a DM server does not take from a client (Get, Add, Exec, ...): 501;
// - an Alert code we do not know: 406 (optional feature not supported);
// - Alert 1200/1201/1222/1223/1224/1226, Replace, Results: 200.
// Status elements from the client are answers, not commands: no Status back.

export const SYNCML_COMMANDS = new Set(['Add', 'Alert', 'Atomic', 'Copy', 'Delete', 'Exec', 'Get', 'Map', 'Put', 'Replace', 'Results', 'Search', 'Sequence', 'Status', 'Sync']);

/** Alert codes: 1200 server-initiated, 1201 client-initiated session, 1222 next message, 1223 session abort, 1224 device alert, 1226 generic alert. */
export const KNOWN_ALERTS = new Set(['1200', '1201', '1222', '1223', '1224', '1226']);

export function statusCodeFor(c: ClientCommand): number | null {
  if (c.name === 'Status') return c.cmdId === undefined ? 400 : null;
  if (!SYNCML_COMMANDS.has(c.name)) return 400;
  if (c.cmdId === undefined) return 400;
  switch (c.name) {
    case 'Alert':
      return c.data !== undefined && KNOWN_ALERTS.has(c.data) ? 200 : 406;
    case 'Replace':
      return c.items.length > 0 ? 200 : 400;
    case 'Results':
      return 200;
    default:
      return 501;
  }
}

/** Status elements for a client message's commands, in document order. */
export function statusesFor(msgId: number, commands: readonly ClientCommand[]): StatusOut[] {
  const out: StatusOut[] = [];
  for (const c of commands) {
    const code = statusCodeFor(c);
    if (code === null) continue;
    const s: StatusOut = { msgRef: String(msgId), cmdRef: c.cmdId ?? '', cmd: c.name, code };
    const target = c.items[0]?.target;
    if (c.name === 'Replace' && c.items.length === 1 && target !== undefined) s.targetRef = target;
    out.push(s);
  }
  return out;
}
