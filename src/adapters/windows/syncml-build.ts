import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { CspCommand } from './render.js';

// Writing a server SyncML 1.2 message: our SyncHdr (same SessionID, our own
// MsgID), Status elements (CmdID, MsgRef, CmdRef, Cmd, TargetRef?, SourceRef?, Data),
// then our commands, each with a unique CmdID (nested Atomic children too),
// each Item with Target/LocURI, Meta Format in the syncml:metinf namespace and Data,
// and Final (structure-of-oma-dm-provisioning-files.md; clientcertificateinstall-scep.md).

export const SYNCML_NS = 'SYNCML:SYNCML1.2';
export const METINF_NS = 'syncml:metinf';
export const SYNCML_CONTENT_TYPE = 'application/vnd.syncml.dm+xml';

export interface StatusOut {
  msgRef: string;
  cmdRef: string; // '' when the client command had no CmdID
  cmd: string;
  code: number;
  targetRef?: string;
  sourceRef?: string;
}

export interface MessageOut {
  sessionId: string;
  msgId: number;
  /** The device (its DevID). */
  target: string;
  /** Our management URL. */
  source: string;
  statuses: StatusOut[];
  commands: CspCommand[];
}

export interface Emitted {
  cmdId: number;
  command: CspCommand;
  parent?: CspCommand;
}

function addCommand(body: XMLBuilder, c: CspCommand, next: () => number, emitted: Emitted[], parent?: CspCommand): void {
  const el = body.ele(c.cmd);
  const cmdId = next();
  el.ele('CmdID').txt(String(cmdId));
  emitted.push({ cmdId, command: c, ...(parent && { parent }) });
  if (c.cmd === 'Atomic') {
    for (const inner of c.commands) addCommand(el, inner, next, emitted, c);
    return;
  }
  const item = el.ele('Item');
  item.ele('Target').ele('LocURI').txt(c.target);
  if (c.cmd === 'Add' || c.cmd === 'Replace') {
    item.ele('Meta').ele(METINF_NS, 'Format').txt(c.format);
    if (c.data !== undefined) item.ele('Data').txt(c.data);
  }
}

export function buildMessage(m: MessageOut): { xml: string; emitted: Emitted[] } {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele(SYNCML_NS, 'SyncML');
  const hdr = root.ele('SyncHdr');
  hdr.ele('VerDTD').txt('1.2');
  hdr.ele('VerProto').txt('DM/1.2');
  hdr.ele('SessionID').txt(m.sessionId);
  hdr.ele('MsgID').txt(String(m.msgId));
  hdr.ele('Target').ele('LocURI').txt(m.target);
  hdr.ele('Source').ele('LocURI').txt(m.source);
  const body = root.ele('SyncBody');
  let id = 0;
  const next = () => ++id;
  for (const s of m.statuses) {
    const st = body.ele('Status');
    st.ele('CmdID').txt(String(next()));
    st.ele('MsgRef').txt(s.msgRef);
    st.ele('CmdRef').txt(s.cmdRef);
    st.ele('Cmd').txt(s.cmd);
    if (s.targetRef !== undefined) st.ele('TargetRef').txt(s.targetRef);
    if (s.sourceRef !== undefined) st.ele('SourceRef').txt(s.sourceRef);
    st.ele('Data').txt(String(s.code));
  }
  const emitted: Emitted[] = [];
  for (const c of m.commands) addCommand(body, c, next, emitted);
  body.ele('Final');
  return { xml: doc.end({ prettyPrint: true }), emitted };
}
