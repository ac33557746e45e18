import { type El, child, childrenNamed, textAt } from './xml.js';

// Reading a client SyncML 1.2 message (MS-MDM; structure-of-oma-dm-provisioning-files.md):
// SyncHdr (VerDTD, VerProto, SessionID, MsgID, Target, Source) and SyncBody
// with the client's commands in document order, then Final.

export interface SyncHdr {
  verDTD: string;
  verProto: string;
  sessionId: string;
  msgId: number;
  /** Target LocURI: our management URL. */
  target: string;
  /** Source LocURI: the device's ./DevInfo/DevID. */
  source: string;
}

export interface Item {
  target?: string;
  source?: string;
  data?: string;
  metaType?: string;
  metaFormat?: string;
}

/** One SyncBody child. `cmdId` is undefined when the element carries none (then Status 400 with a blank CmdRef). */
export interface ClientCommand {
  name: string;
  cmdId: string | undefined;
  /** Alert code, or Status code (Data directly under the element). */
  data?: string;
  msgRef?: string;
  cmdRef?: string;
  /** For Status: the Cmd it refers to. */
  cmd?: string;
  items: Item[];
  /** Child commands of Atomic / Sequence. */
  children?: ClientCommand[];
}

export interface SyncMLMessage {
  hdr: SyncHdr;
  commands: ClientCommand[];
  final: boolean;
}

export type SyncMLParse = { ok: true; msg: SyncMLMessage } | { ok: false; reason: string };

function meta(el: El | undefined): { metaType?: string; metaFormat?: string } {
  const m = child(el, 'Meta');
  if (!m) return {};
  const t = textAt(m, 'Type');
  const f = textAt(m, 'Format');
  return { ...(t !== undefined && { metaType: t }), ...(f !== undefined && { metaFormat: f }) };
}

function item(el: El, parentMeta: { metaType?: string; metaFormat?: string }): Item {
  const i: Item = { ...parentMeta, ...meta(el) };
  const target = textAt(el, 'Target', 'LocURI');
  const source = textAt(el, 'Source', 'LocURI');
  const data = child(el, 'Data');
  if (target !== undefined) i.target = target;
  if (source !== undefined) i.source = source;
  // Data may hold text, or nested XML for some CSPs: keep only the text here.
  if (data) i.data = data.text;
  return i;
}

function command(el: El): ClientCommand {
  const cmdIdText = textAt(el, 'CmdID');
  const c: ClientCommand = {
    name: el.name,
    cmdId: cmdIdText && /^\d{1,9}$/.test(cmdIdText) ? cmdIdText : undefined,
    items: childrenNamed(el, 'Item').map((i) => item(i, meta(el))),
  };
  const data = child(el, 'Data');
  if (data) c.data = data.text;
  const msgRef = textAt(el, 'MsgRef');
  const cmdRef = textAt(el, 'CmdRef');
  const cmd = textAt(el, 'Cmd');
  if (msgRef !== undefined) c.msgRef = msgRef;
  if (cmdRef !== undefined) c.cmdRef = cmdRef;
  if (cmd !== undefined) c.cmd = cmd;
  if (el.name === 'Atomic' || el.name === 'Sequence') c.children = el.children.filter((x) => !['CmdID', 'Meta', 'NoResp'].includes(x.name)).map(command);
  return c;
}

export function parseSyncML(root: El): SyncMLParse {
  if (root.name !== 'SyncML') return { ok: false, reason: `root element is ${root.name}, not SyncML` };
  const hdr = child(root, 'SyncHdr');
  const body = child(root, 'SyncBody');
  if (!hdr || !body) return { ok: false, reason: 'SyncHdr and SyncBody are required' };
  const sessionId = textAt(hdr, 'SessionID');
  const msgIdText = textAt(hdr, 'MsgID');
  if (!sessionId || !/^[0-9A-Za-z]{1,32}$/.test(sessionId)) return { ok: false, reason: 'SyncHdr has no valid SessionID' };
  if (!msgIdText || !/^\d{1,9}$/.test(msgIdText) || Number(msgIdText) < 1) return { ok: false, reason: 'SyncHdr has no valid MsgID' };
  return {
    ok: true,
    msg: {
      hdr: {
        verDTD: textAt(hdr, 'VerDTD') ?? '',
        verProto: textAt(hdr, 'VerProto') ?? '',
        sessionId,
        msgId: Number(msgIdText),
        target: textAt(hdr, 'Target', 'LocURI') ?? '',
        source: textAt(hdr, 'Source', 'LocURI') ?? '',
      },
      commands: body.children.filter((c) => c.name !== 'Final').map(command),
      final: body.children.some((c) => c.name === 'Final'),
    },
  };
}
