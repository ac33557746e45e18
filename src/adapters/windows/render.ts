import type { ReadyDelivery } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import {
  ekuMappingValue,
  hashAlgorithmValue,
  keyProtectionValue,
  keyUsageAcceptable,
  keyUsageValue,
  pemThumbprint,
  pemToBase64Der,
  sanProblem,
  subjectAlternativeNamesValue,
  subjectNameValue,
} from './csp-values.js';

// Rendering (pure): one ready delivery -> the OMA-DM commands that install it.
//
// Windows 10/11 ('modern'): ClientCertificateInstall CSP under
//   ./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/<UniqueID>   (device scope)
//   ./User/Vendor/MSFT/ClientCertificateInstall/SCEP/<UniqueID>     (user scope)
// Windows 8.1 / Windows Phone 8.1 ('legacy'): CertificateStore CSP under
//   ./Vendor/MSFT/CertificateStore/My/SCEP/<UniqueID>  (HashAlgrithm spelled so in that CSP)
// Node names, formats and value encodings: ../shared/reference/windows/clientcertificateinstall-scep.md.
// "SCEP commands must be wrapped in atomic commands ... The Enroll command must
// be the last item in the atomic block": the Install nodes and Exec Enroll are
// one Atomic, in the order of Microsoft's own example. The trusted root goes
// first, outside the Atomic (RootCATrustedCertificates / CertificateStore
// Root/System): it may already exist (418), which must not roll back the
// enrollment.

export type Form = 'modern' | 'legacy';
export type NodeFormat = 'chr' | 'int' | 'node' | 'b64';

export type CspCommand =
  | { cmd: 'Add' | 'Replace'; target: string; format: NodeFormat; data?: string }
  | { cmd: 'Exec' | 'Delete' | 'Get'; target: string }
  | { cmd: 'Atomic'; commands: CspCommand[] };

export interface WindowsPayload {
  profileId: string;
  profileVersion: number;
  uniqueId: string;
  form: Form;
  scope: 'user' | 'device';
  /** The SCEP node (…/SCEP/<UniqueID>): Get its Status, ErrorCode, CertThumbprint; Delete it to remove. */
  scepNode: string;
  commands: CspCommand[];
}

export interface RenderOptions {
  form: Form;
  /** 'add' creates the SCEP node; 'replace' re-issues on an existing node (Replace the Install values, then Exec again). */
  mode: 'add' | 'replace';
}

/** The UniqueID: stable per profile, so re-issues and removal address the same node. */
export const uniqueIdFor = (profileId: string) => `mdmgw-${profileId}`;

export function scepNodeFor(profileId: string, scope: 'user' | 'device', form: Form): string {
  const id = uniqueIdFor(profileId);
  if (form === 'legacy') return `./Vendor/MSFT/CertificateStore/My/SCEP/${id}`;
  return `./${scope === 'user' ? 'User' : 'Device'}/Vendor/MSFT/ClientCertificateInstall/SCEP/${id}`;
}

export function rootNodeFor(rootThumbprint: string, form: Form): string {
  return form === 'legacy'
    ? `./Vendor/MSFT/CertificateStore/Root/System/${rootThumbprint}/EncodedCertificate`
    : `./Device/Vendor/MSFT/RootCATrustedCertificates/Root/${rootThumbprint}/EncodedCertificate`;
}

/** Why this delivery cannot be expressed for Windows (the device would refuse it), or null. */
export function windowsProblem(d: ReadyDelivery): string | null {
  if (!keyUsageAcceptable(keyUsageValue(d.resolved.keyUsage))) return 'KeyUsage must include digitalSignature (0x80) or keyEncipherment (0x20) for ClientCertificateInstall';
  if (d.resolved.extendedKeyUsages.length === 0) return 'EKUMapping is required by ClientCertificateInstall: the profile names no extended key usage';
  return sanProblem(d.resolved.subjectAlternativeNames);
}

/** Retries after a SCEP PENDING: the defaults (3 x 5 minutes), or 30 x 60 minutes when an admin must approve. */
function retries(d: ReadyDelivery): { count: number; delay: number } {
  return d.profile.requireApproval ? { count: 30, delay: 60 } : { count: 3, delay: 5 };
}

export function renderWindows(_device: Device, d: ReadyDelivery, o: RenderOptions): WindowsPayload {
  const scope = d.profile.scope;
  const node = scepNodeFor(d.profile.id, scope, o.form);
  const install = `${node}/Install`;
  const set = o.mode === 'add' ? 'Add' : 'Replace';
  const rootThumbprint = pemThumbprint(d.trustedRootPem);
  const r = retries(d);
  const values: [string, NodeFormat, string][] = [
    ['RetryCount', 'int', String(r.count)],
    ['RetryDelay', 'int', String(r.delay)],
    ['KeyUsage', 'int', String(keyUsageValue(d.resolved.keyUsage))],
    ['KeyLength', 'int', String(d.resolved.keySize)],
    [o.form === 'legacy' ? 'HashAlgrithm' : 'HashAlgorithm', 'chr', hashAlgorithmValue(d.resolved.hashAlgorithm)],
    ['SubjectName', 'chr', subjectNameValue(d.resolved.subject)],
  ];
  if (d.resolved.subjectAlternativeNames.length) values.push(['SubjectAlternativeNames', 'chr', subjectAlternativeNamesValue(d.resolved.subjectAlternativeNames)]);
  values.push(
    ['ValidPeriod', 'chr', 'Days'],
    ['ValidPeriodUnits', 'int', String(d.resolved.validityDays)],
    ['EKUMapping', 'chr', ekuMappingValue(d.resolved.extendedKeyUsages)],
    ['KeyProtection', 'int', String(keyProtectionValue(d.profile.keyProtection))],
    ['ServerURL', 'chr', d.scepUrl],
    ['Challenge', 'chr', d.challenge],
    ['CAThumbprint', 'chr', rootThumbprint],
  );
  const atomic: CspCommand[] = [];
  if (o.mode === 'add') atomic.push({ cmd: 'Add', target: node, format: 'node' });
  for (const [name, format, data] of values) atomic.push({ cmd: set, target: `${install}/${name}`, format, data });
  atomic.push({ cmd: 'Exec', target: `${install}/Enroll` });
  return {
    profileId: d.profile.id,
    profileVersion: d.profile.version,
    uniqueId: uniqueIdFor(d.profile.id),
    form: o.form,
    scope,
    scepNode: node,
    commands: [...rootCommands(d.trustedRootPem, o.form), ...intermediateCommands(d.intermediatesPem ?? '', o.form), { cmd: 'Atomic', commands: atomic }],
  };
}

/** One Add per root in the PEM text (during a CA rollover: the current root first, then the retired ones still in use). */
export function rootCommands(rootsPem: string, form: Form): CspCommand[] {
  const blocks = rootsPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [rootsPem];
  return blocks.map((pem) => ({ cmd: 'Add', target: rootNodeFor(pemThumbprint(pem), form), format: 'b64', data: pemToBase64Der(pem) }));
}

/** Intermediate CA node (a subordinate CA's chain): the device's intermediate store, not its roots. */
export function intermediateNodeFor(thumbprint: string, form: Form): string {
  return form === 'legacy' ? `./Vendor/MSFT/CertificateStore/CA/System/${thumbprint}/EncodedCertificate` : `./Device/Vendor/MSFT/RootCATrustedCertificates/CA/${thumbprint}/EncodedCertificate`;
}

/** One Add per intermediate CA in the PEM text (none for a CA that is its own root). */
export function intermediateCommands(pem: string, form: Form): CspCommand[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => ({ cmd: 'Add', target: intermediateNodeFor(pemThumbprint(block), form), format: 'b64', data: pemToBase64Der(block) }));
}

/** The contract's render: the Windows 10/11 form, creating the node. Sessions pick the form from the device's OS version. */
export function render(device: Device, d: ReadyDelivery): WindowsPayload {
  return renderWindows(device, d, { form: 'modern', mode: 'add' });
}

/** Status queries after Exec (the CSP answers Exec with 200 before it enrolls). */
export function statusQueries(scepNode: string): { node: 'Status' | 'ErrorCode' | 'CertThumbprint'; cmd: CspCommand }[] {
  return (['Status', 'ErrorCode', 'CertThumbprint'] as const).map((n) => ({ node: n, cmd: { cmd: 'Get', target: `${scepNode}/${n}` } }));
}

/** Removal of an unassigned profile: Delete the SCEP node (the CSP removes the certificate with it). */
export function removal(scepNode: string): CspCommand {
  return { cmd: 'Delete', target: scepNode };
}
