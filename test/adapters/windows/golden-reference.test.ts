import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type El, child, parseXml, textAt } from '../../../src/adapters/windows/xml.js';
import { describeWithReference, referencePath } from '../../helpers/reference.js';
import { GOLDEN_DIR } from './fixtures.js';

// Every golden file, parsed and checked: first its SyncML shape and the value
// of each Install node (always), then each Install node against the node
// table of the reference notes restated from Microsoft's CSP pages
// ($MDMGW_REFERENCE_DIR/windows/clientcertificateinstall-scep.md: node name,
// required, SyncML Meta Format), read from the notes themselves.

interface NodeSpec {
  required: boolean;
  format: string;
}

function referenceNodes(): Map<string, NodeSpec> {
  const md = readFileSync(referencePath('windows', 'clientcertificateinstall-scep.md'), 'utf8');
  const nodes = new Map<string, NodeSpec>();
  for (const m of md.matchAll(/^\| `Install\/(\w+)` \| (yes|no)? *\| ([^|]+)\|/gm)) nodes.set(m[1]!, { required: m[2] === 'yes', format: m[3]!.trim() });
  return nodes;
}

const VALUE_RULES: Record<string, (v: string) => boolean> = {
  ServerURL: (v) => v.split(';').every((u) => /^https?:\/\//.test(u)),
  Challenge: (v) => v.length > 0,
  EKUMapping: (v) => /^[0-2](\.\d+)+(\+[0-2](\.\d+)+)*$/.test(v),
  KeyUsage: (v) => /^\d+$/.test(v) && (Number(v) & 0xa0) !== 0,
  SubjectName: (v) => /^[A-Z][A-Z.0-9]*=("([^"]|"")*"|[^,"]*)(,[A-Z][A-Z.0-9]*=("([^"]|"")*"|[^,"]*))*$/.test(v),
  KeyProtection: (v) => ['1', '2', '3', '4'].includes(v),
  RetryDelay: (v) => Number(v) >= 1,
  RetryCount: (v) => Number(v) >= 0 && Number(v) <= 30,
  KeyLength: (v) => ['1024', '2048', '4096'].includes(v),
  HashAlgorithm: (v) => /^(SHA-1|SHA-2|SHA-3)(\+(SHA-1|SHA-2|SHA-3))*$/.test(v),
  CAThumbprint: (v) => /^[0-9A-F]{40}$/.test(v),
  SubjectAlternativeNames: (v) => v.split(';').every((p) => /^(1|2|3|7|8|9|10|11)\+.+$/.test(p)),
  ValidPeriod: (v) => ['Days', 'Months', 'Years'].includes(v),
  ValidPeriodUnits: (v) => /^\d+$/.test(v),
};

const commands = (el: El | undefined) => (el?.children ?? []).filter((c) => !['CmdID', 'Meta', 'Final', 'Status'].includes(c.name));
const target = (c: El) => textAt(child(c, 'Item'), 'Target', 'LocURI') ?? '';
const format = (c: El) => textAt(child(c, 'Item'), 'Meta', 'Format');

const goldens = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.xml'));

interface GoldenInstall {
  /** The Install node's name (the CertificateStore CSP's "HashAlgrithm" read as HashAlgorithm). */
  name: string;
  format: string | undefined;
  value: string;
}

/** Parses a golden file, checks its SyncML shape on the way, and returns the Install nodes it sets. */
function readGolden(file: string): GoldenInstall[] {
  const xml = readFileSync(path.join(GOLDEN_DIR, file), 'utf8');
  const root = parseXml(xml);
  expect(root.name).toBe('SyncML');
  expect(textAt(root, 'SyncHdr', 'VerDTD')).toBe('1.2');
  expect(textAt(root, 'SyncHdr', 'VerProto')).toBe('DM/1.2');
  const body = child(root, 'SyncBody')!;
  expect(body.children.at(-1)!.name).toBe('Final');
  const cmds = commands(body);
  const legacy = file.startsWith('windows81');
  const reissue = file.includes('reissue');

  // The trusted root, before and outside the Atomic.
  const [rootAdd, atomic] = cmds;
  expect(rootAdd!.name).toBe('Add');
  expect(format(rootAdd!)).toBe('b64');
  expect(target(rootAdd!)).toMatch(
    legacy ? /^\.\/Vendor\/MSFT\/CertificateStore\/Root\/System\/[0-9A-F]{40}\/EncodedCertificate$/ : /^\.\/Device\/Vendor\/MSFT\/RootCATrustedCertificates\/Root\/[0-9A-F]{40}\/EncodedCertificate$/,
  );
  expect(Buffer.from(textAt(child(rootAdd!, 'Item'), 'Data')!, 'base64')[0]).toBe(0x30); // DER SEQUENCE

  // "SCEP commands must be wrapped in atomic commands ... The Enroll command must be the last item in the atomic block."
  expect(atomic!.name).toBe('Atomic');
  expect(cmds).toHaveLength(2);
  const inner = commands(atomic);
  const base = legacy ? /^\.\/Vendor\/MSFT\/CertificateStore\/My\/SCEP\/([^/]+)/ : /^\.\/(Device|User)\/Vendor\/MSFT\/ClientCertificateInstall\/SCEP\/([^/]+)/;
  const node = base.exec(target(inner[0]!))![0];
  if (!reissue) {
    expect(inner[0]!.name).toBe('Add');
    expect(target(inner[0]!)).toBe(node);
    expect(format(inner[0]!)).toBe('node');
  }
  const last = inner.at(-1)!;
  expect(last.name).toBe('Exec');
  expect(target(last)).toBe(`${node}/Install/Enroll`);
  expect(child(child(last, 'Item'), 'Data')).toBeUndefined();

  const installs: GoldenInstall[] = [];
  for (const c of inner.slice(reissue ? 0 : 1, -1)) {
    expect(c.name).toBe(reissue ? 'Replace' : 'Add');
    const m = /\/Install\/(\w+)$/.exec(target(c));
    expect(m, target(c)).not.toBeNull();
    expect(target(c).startsWith(`${node}/Install/`)).toBe(true);
    // The CertificateStore CSP spells HashAlgorithm "HashAlgrithm".
    if (legacy) expect(m![1]).not.toBe('HashAlgorithm');
    const name = legacy && m![1] === 'HashAlgrithm' ? 'HashAlgorithm' : m![1]!;
    installs.push({ name, format: format(c), value: textAt(child(c, 'Item'), 'Data') ?? '' });
  }
  // CAThumbprint names the root we install.
  const thumb = /\/([0-9A-F]{40})\/EncodedCertificate$/.exec(target(rootAdd!))![1];
  expect(installs.find((i) => i.name === 'CAThumbprint')?.value).toBe(thumb);
  // CmdIDs are unique across the message.
  const ids = [...xml.matchAll(/<CmdID>(\d+)<\/CmdID>/g)].map((x) => x[1]);
  expect(new Set(ids).size).toBe(ids.length);
  return installs;
}

describe('golden files: SyncML shape and Install values', () => {
  it('has the representative cases', () => {
    expect(goldens).toEqual(expect.arrayContaining(['device-scope.xml', 'user-scope-sans.xml', 'tpm-required.xml', 'windows81-certificatestore.xml']));
  });

  for (const file of goldens) {
    it(file, () => {
      const installs = readGolden(file);
      expect(installs.length).toBeGreaterThan(0);
      for (const { name, value } of installs) expect(VALUE_RULES[name]?.(value) ?? true, `Install/${name} = ${value}`).toBe(true);
    });
  }
});

describeWithReference('golden files against the ClientCertificateInstall node table (windows/clientcertificateinstall-scep.md)', () => {
  let spec: Map<string, NodeSpec>;
  beforeAll(() => {
    spec = referenceNodes();
  });

  it('reads the node table from the notes', () => {
    expect(spec.size).toBeGreaterThanOrEqual(18);
    expect(spec.get('KeyUsage')).toEqual({ required: true, format: 'int' });
    expect(spec.get('Enroll')?.format).toBe('(null)');
  });

  for (const file of goldens) {
    it(file, () => {
      const installs = readGolden(file);
      for (const { name, format: f } of installs) {
        const s = spec.get(name);
        expect(s, `Install/${name} is a node of the reference table`).toBeDefined();
        expect(f, `Install/${name} format`).toBe(s!.format);
      }
      const seen = new Set(installs.map((i) => i.name));
      for (const [name, s] of spec) if (s.required && name !== 'Enroll') expect(seen.has(name), `required Install/${name}`).toBe(true);
    });
  }
});
