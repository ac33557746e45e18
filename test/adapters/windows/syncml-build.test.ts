import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { describe, expect, it } from 'vitest';
import { buildMessage, escapeText, type MessageOut } from '../../../src/adapters/windows/syncml-build.js';
import type { CspCommand } from '../../../src/adapters/windows/render.js';
import { parseXml, textAt, childrenNamed, child } from '../../../src/adapters/windows/xml.js';

// The SyncML writer (issue 13: a string writer instead of xmlbuilder2) against
// the DOM builder it replaced, built here as the reference: the same bytes for
// every shape we send, and text that reads back as it was written.

function reference(m: MessageOut): string {
  const add = (body: XMLBuilder, c: CspCommand, next: () => number): void => {
    const el = body.ele(c.cmd);
    el.ele('CmdID').txt(String(next()));
    if (c.cmd === 'Atomic') {
      for (const inner of c.commands) add(el, inner, next);
      return;
    }
    const item = el.ele('Item');
    item.ele('Target').ele('LocURI').txt(c.target);
    if (c.cmd === 'Add' || c.cmd === 'Replace') {
      item.ele('Meta').ele('syncml:metinf', 'Format').txt(c.format);
      if (c.data !== undefined) item.ele('Data').txt(c.data);
    }
  };
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele('SYNCML:SYNCML1.2', 'SyncML');
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
  for (const c of m.commands) add(body, c, next);
  body.ele('Final');
  return doc.end({ prettyPrint: true });
}

const SHAPES: MessageOut[] = [
  // A session with nothing to do: statuses only.
  { sessionId: '1A', msgId: 2, target: 'DEVICE-1', source: 'https://mdm.contoso.com/ManagementServer/MDM.svc', statuses: [{ msgRef: '2', cmdRef: '0', cmd: 'SyncHdr', code: 200, targetRef: 'https://mdm.contoso.com/ManagementServer/MDM.svc', sourceRef: 'DEVICE-1' }, { msgRef: '2', cmdRef: '3', cmd: 'Status', code: 200 }], commands: [] },
  // Empty values (a client command without CmdID, a device without DevID) and text that needs escaping.
  { sessionId: '7', msgId: 1, target: '', source: 'https://h/x?a=1&b=<2>', statuses: [{ msgRef: '1', cmdRef: '', cmd: 'Alert', code: 400, targetRef: 'a<b>c&d"e\'f' }], commands: [{ cmd: 'Get', target: './DevDetail/SwV' }] },
  // Every command kind, Replace without Data, an Atomic with children.
  {
    sessionId: '3',
    msgId: 9,
    target: 'D',
    source: 'S',
    statuses: [],
    commands: [
      { cmd: 'Add', target: './Device/Vendor/MSFT/RootCATrustedCertificates/Root/AB/EncodedCertificate', format: 'b64', data: 'MIIB+/==' },
      { cmd: 'Atomic', commands: [{ cmd: 'Add', target: './N', format: 'node' }, { cmd: 'Replace', target: './N/Install/SubjectName', format: 'chr', data: 'CN=A & B,O="x, y"' }, { cmd: 'Replace', target: './N/Install/Empty', format: 'chr' }, { cmd: 'Exec', target: './N/Install/Enroll' }] },
      { cmd: 'Delete', target: './Old' },
      { cmd: 'Get', target: './N/Status' },
    ],
  },
];

describe('SyncML writer', () => {
  SHAPES.forEach((m, i) => {
    it(`writes shape ${i + 1} byte for byte as the DOM builder did`, () => {
      expect(buildMessage(m).xml).toBe(reference(m));
    });
  });

  it('numbers commands in document order, Atomic children included, and reports each with its parent', () => {
    const { emitted } = buildMessage(SHAPES[2]!);
    expect(emitted.map((e) => [e.cmdId, e.command.cmd, e.parent?.cmd])).toEqual([
      [1, 'Add', undefined],
      [2, 'Atomic', undefined],
      [3, 'Add', 'Atomic'],
      [4, 'Replace', 'Atomic'],
      [5, 'Replace', 'Atomic'],
      [6, 'Exec', 'Atomic'],
      [7, 'Delete', undefined],
      [8, 'Get', undefined],
    ]);
  });

  it('escapes every & (also one that looks like an entity), so the device reads back exactly the value', () => {
    const value = 'O=AT&amp;T &lt;x&gt; ]]> &#38;';
    expect(escapeText(value)).toBe('O=AT&amp;amp;T &amp;lt;x&amp;gt; ]]&gt; &amp;#38;');
    const xml = buildMessage({ sessionId: '1', msgId: 1, target: value, source: 'S', statuses: [], commands: [{ cmd: 'Replace', target: './X', format: 'chr', data: value }] }).xml;
    const root = parseXml(xml);
    expect(textAt(root, 'SyncHdr', 'Target', 'LocURI')).toBe(value);
    const replace = childrenNamed(child(root, 'SyncBody'), 'Replace')[0];
    expect(textAt(replace, 'Item', 'Data')).toBe(value);
  });
});
