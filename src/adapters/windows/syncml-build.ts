import type { CspCommand } from './render.js';

// Writing a server SyncML 1.2 message: our SyncHdr (same SessionID, our own
// MsgID), Status elements (CmdID, MsgRef, CmdRef, Cmd, TargetRef?, SourceRef?, Data),
// then our commands, each with a unique CmdID (nested Atomic children too),
// each Item with Target/LocURI, Meta Format in the syncml:metinf namespace and Data,
// and Final (structure-of-oma-dm-provisioning-files.md; clientcertificateinstall-scep.md).
//
// The message has a handful of fixed shapes, so it is written as text by a
// small writer rather than through a DOM builder (xmlbuilder2 cost more than
// the rest of a check-in with nothing to do: issue 13). The layout is the one
// xmlbuilder2's prettyPrint produced (two-space indent, an empty element as
// `<X/>`), so the golden files did not change. Text is escaped for XML: every
// `&`, `<` and `>` (xmlbuilder2 left an `&` that looked like an entity as it was).

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

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** Character data: `&`, `<` and `>` as references (`>` too, so `]]>` cannot appear). */
export function escapeText(s: string): string {
  return /[&<>]/.test(s) ? s.replace(/[&<>]/g, (c) => ESCAPES[c]!) : s;
}

/** Lines of the document being written, with the current depth's indent. */
class Writer {
  readonly lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  private depth = 0;
  private pad(): string {
    return '  '.repeat(this.depth);
  }
  open(name: string, attrs = ''): void {
    this.lines.push(`${this.pad()}<${name}${attrs}>`);
    this.depth++;
  }
  close(name: string): void {
    this.depth--;
    this.lines.push(`${this.pad()}</${name}>`);
  }
  /** An element holding only text; empty text is written `<name/>`. */
  leaf(name: string, text: string, attrs = ''): void {
    this.lines.push(text === '' ? `${this.pad()}<${name}${attrs}/>` : `${this.pad()}<${name}${attrs}>${escapeText(text)}</${name}>`);
  }
  /** `<name><LocURI>uri</LocURI></name>`. */
  locUri(name: string, uri: string): void {
    this.open(name);
    this.leaf('LocURI', uri);
    this.close(name);
  }
  end(): string {
    return this.lines.join('\n');
  }
}

function addCommand(w: Writer, c: CspCommand, next: () => number, emitted: Emitted[], parent?: CspCommand): void {
  w.open(c.cmd);
  const cmdId = next();
  w.leaf('CmdID', String(cmdId));
  emitted.push({ cmdId, command: c, ...(parent && { parent }) });
  if (c.cmd === 'Atomic') {
    for (const inner of c.commands) addCommand(w, inner, next, emitted, c);
    w.close(c.cmd);
    return;
  }
  w.open('Item');
  w.locUri('Target', c.target);
  if (c.cmd === 'Add' || c.cmd === 'Replace') {
    w.open('Meta');
    w.leaf('Format', c.format, ` xmlns="${METINF_NS}"`);
    w.close('Meta');
    if (c.data !== undefined) w.leaf('Data', c.data);
  }
  w.close('Item');
  w.close(c.cmd);
}

export function buildMessage(m: MessageOut): { xml: string; emitted: Emitted[] } {
  const w = new Writer();
  w.open('SyncML', ` xmlns="${SYNCML_NS}"`);
  w.open('SyncHdr');
  w.leaf('VerDTD', '1.2');
  w.leaf('VerProto', 'DM/1.2');
  w.leaf('SessionID', m.sessionId);
  w.leaf('MsgID', String(m.msgId));
  w.locUri('Target', m.target);
  w.locUri('Source', m.source);
  w.close('SyncHdr');
  w.open('SyncBody');
  let id = 0;
  const next = () => ++id;
  for (const s of m.statuses) {
    w.open('Status');
    w.leaf('CmdID', String(next()));
    w.leaf('MsgRef', s.msgRef);
    w.leaf('CmdRef', s.cmdRef);
    w.leaf('Cmd', s.cmd);
    if (s.targetRef !== undefined) w.leaf('TargetRef', s.targetRef);
    if (s.sourceRef !== undefined) w.leaf('SourceRef', s.sourceRef);
    w.leaf('Data', String(s.code));
    w.close('Status');
  }
  const emitted: Emitted[] = [];
  for (const c of m.commands) addCommand(w, c, next, emitted);
  w.leaf('Final', '');
  w.close('SyncBody');
  w.close('SyncML');
  return { xml: w.end(), emitted };
}
