import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDiscover } from '../../src/adapters/windows/discovery.js';
import { parseGetPolicies } from '../../src/adapters/windows/enrollment-policy.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { parseSyncML } from '../../src/adapters/windows/syncml-message.js';
import { parseRequestSecurityToken } from '../../src/adapters/windows/wstep.js';
import { XmlError, parseXml, type El } from '../../src/adapters/windows/xml.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { fuzzOptions, outcome, PER_INPUT_MS } from './fuzz-runs.js';

// Property-based tests of the Windows message readers: xml.ts (pre-scan +
// fast-xml-parser) gives an element tree or XmlError for any text; the SyncML,
// Discover, GetPolicies and RST readers give a result (ok or a reason) for any
// tree and never throw; and the SOAP routes answer any body with 200 or a
// 4xx SOAP fault, never a 5xx.

const NAMES = ['SyncML', 'SyncHdr', 'SyncBody', 'VerDTD', 'VerProto', 'SessionID', 'MsgID', 'Target', 'Source', 'LocURI', 'CmdID', 'MsgRef', 'CmdRef', 'Cmd', 'Data', 'Item', 'Meta', 'Type', 'Format', 'Alert', 'Status', 'Results', 'Replace', 'Atomic', 'Sequence', 'Final', 'Envelope', 'Header', 'Body', 'Action', 'MessageID', 'Discover', 'request', 'AuthPolicies', 'AuthPolicy', 'GetPolicies', 'Security', 'UsernameToken', 'Username', 'Password', 'RequestSecurityToken', 'BinarySecurityToken', 'RequestType', 'AdditionalContext', 'ContextItem', 'Value', 's:Envelope', 'wsse:Security'];

/** Text with the characters XML readers trip over: entities, references, brackets, quotes. */
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('&amp;', '&lt;', '&#x41;', '&#65;', '&bogus;', '&', '&#xFFFFFF;', '&#99999999;', ']]>', '1', '0', '-1', '999999999999', 'MIIB', 'OnPremise', '__proto__', 'constructor'),
);

interface Tree {
  name: string;
  attrs: [string, string][];
  children: (Tree | string)[];
}

const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.record({
    name: fc.constantFrom(...NAMES),
    attrs: fc.array(fc.tuple(fc.constantFrom('Name', 'ValueType', 'xmlns', 'xmlns:s', 'Id', '__proto__'), fc.string({ maxLength: 8 }).map((s) => s.replace(/["<&]/g, ''))), { maxLength: 2 }),
    children: fc.array(fc.oneof({ depthSize: 'small' }, text, tie('t')), { maxLength: 4 }),
  }),
})).t;

const escapeText = (s: string) => (/^&(#x?[0-9a-fA-F]+|[a-z]+);$|^&$/.test(s) ? s : s.replace(/&/g, '&amp;').replace(/</g, '&lt;'));
const serialize = (t: Tree): string =>
  `<${t.name}${t.attrs.map(([k, v]) => ` ${k}="${v}"`).join('')}>${t.children.map((c) => (typeof c === 'string' ? escapeText(c) : serialize(c))).join('')}</${t.name}>`;

const SYNCML = `<?xml version="1.0" encoding="UTF-8"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>https://mdm.example/ManagementServer/MDM.svc</LocURI></Target><Source><LocURI>DEV1</LocURI></Source></SyncHdr><SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>3</CmdRef><Cmd>Replace</Cmd><Data>200</Data></Status><Results><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Meta><Format xmlns="syncml:metinf">chr</Format></Meta><Data>DEV1</Data></Item></Results><Atomic><CmdID>4</CmdID><Replace><CmdID>5</CmdID></Replace></Atomic><Final/></SyncBody></SyncML>`;
const DISCOVER = `<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover</a:Action><a:MessageID>urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478</a:MessageID></s:Header><s:Body><Discover xmlns="http://schemas.microsoft.com/windows/management/2012/01/enrollment"><request><EmailAddress>user@contoso.com</EmailAddress><RequestVersion>4.0</RequestVersion><AuthPolicies><AuthPolicy>OnPremise</AuthPolicy></AuthPolicies></request></Discover></s:Body></s:Envelope>`;
const RST = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><s:Header><a:MessageID>urn:uuid:1</a:MessageID><wsse:Security><wsse:UsernameToken><wsse:Username>user@contoso.com</wsse:Username><wsse:Password>token</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType><wsse:BinarySecurityToken ValueType="http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10">MIIBIjANBgkq</wsse:BinarySecurityToken><ac:AdditionalContext xmlns:ac="http://schemas.xmlsoap.org/ws/2006/12/authorization"><ac:ContextItem Name="DeviceName"><ac:Value>PC</ac:Value></ac:ContextItem></ac:AdditionalContext></wst:RequestSecurityToken></s:Body></s:Envelope>`;

/** A valid message with random edits: characters replaced, inserted or cut. */
function mutatedText(base: string): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(fc.nat(base.length), fc.constantFrom('<', '>', '/', '"', '&', '!', '?', '[', ']', 'x', ' ', '<!--', '<![CDATA[', '<!DOCTYPE', '</', '/>', '=', '\u0000', '\uFFFF')), { minLength: 1, maxLength: 6 })
    .chain((edits) =>
      fc.constantFrom('replace', 'insert', 'cut').map((how) => {
        let s = base;
        for (const [at, piece] of edits) {
          const i = at % (s.length + 1);
          s = how === 'replace' ? s.slice(0, i) + piece + s.slice(i + 1) : how === 'insert' ? s.slice(0, i) + piece + s.slice(i) : s.slice(0, i);
        }
        return s;
      }),
    );
}

/** Every reader of a parsed message: results, never exceptions. */
function readAll(root: El): void {
  const s = parseSyncML(root);
  expect(typeof s.ok).toBe('boolean');
  parseDiscover(root);
  parseGetPolicies(root);
  const r = parseRequestSecurityToken(root);
  expect(typeof r.ok).toBe('boolean');
}

function expectTreeOrXmlError(input: string): void {
  const r = outcome(() => parseXml(input));
  expect(r.ms).toBeLessThan(PER_INPUT_MS);
  if (!r.ok) {
    expect(r.error).toBeInstanceOf(XmlError);
    return;
  }
  readAll(r.value);
}

describe('Windows XML fuzzing', () => {
  it('random element trees: parsed, and every reader answers without throwing', () => {
    fc.assert(fc.property(tree, (t) => expectTreeOrXmlError(serialize(t))), fuzzOptions(200));
  });

  it('mutated SyncML, Discover and RST messages: a tree or XmlError', () => {
    fc.assert(fc.property(fc.oneof(mutatedText(SYNCML), mutatedText(DISCOVER), mutatedText(RST)), expectTreeOrXmlError), fuzzOptions(200));
  });

  it('arbitrary text: a tree or XmlError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), expectTreeOrXmlError), fuzzOptions(200));
  });

  it('the unmutated messages parse (the properties above are not vacuous)', () => {
    expect(parseSyncML(parseXml(SYNCML))).toMatchObject({ ok: true, msg: { hdr: { sessionId: '1', msgId: 1 }, final: true } });
    expect(parseDiscover(parseXml(DISCOVER))).toMatchObject({ authPolicies: ['OnPremise'] });
    expect(parseRequestSecurityToken(parseXml(RST))).toMatchObject({ ok: true, rst: { context: { DeviceName: ['PC'] } } });
  });

  it('regression (found by fuzzing): a character reference past U+10FFFF, or to NUL or a surrogate, is an XmlError, not a RangeError', () => {
    for (const ref of ['&#xFFFFFF;', '&#99999999;', '&#0;', '&#xD800;']) {
      expect(() => parseXml(`<SyncML>${ref}</SyncML>`)).toThrow(XmlError);
      expect(() => parseXml(`<SyncML a="${ref}"/>`)).toThrow(XmlError);
    }
    expect(parseXml('<a>&#x1F600;&#65;</a>').text).toBe('\u{1F600}A');
  });

  describe('through the SOAP routes', () => {
    let t: TestGateway;
    beforeAll(async () => {
      t = await startTestGateway({ adapters: [windowsAdapter] });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('regression (found by fuzzing): &#xFFFFFF; in a Discover is a MessageFormat fault that names the reference', async () => {
      const res = await fetch(`${t.url}/EnrollmentServer/Discovery.svc`, { method: 'POST', body: DISCOVER.replace('OnPremise', '&#xFFFFFF;') });
      expect(res.status).toBe(400);
      const fault = await res.text();
      expect(fault).toContain('s:MessageFormat');
      expect(fault).toContain('character reference &amp;#xFFFFFF; is not an XML character');
    });

    it('any Discover or GetPolicies body gets 200 or a 4xx SOAP fault, never a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(mutatedText(DISCOVER), tree.map(serialize)), fc.constantFrom('Discovery.svc', 'Policy.svc'), async (body, svc) => {
          const res = await fetch(`${t.url}/EnrollmentServer/${svc}`, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body });
          const answer = await res.text();
          expect(res.status === 200 || (res.status >= 400 && res.status < 500)).toBe(true);
          if (res.status !== 200) expect(answer).toContain('<s:Fault>');
        }),
        fuzzOptions(40),
      );
    });
  });
});
