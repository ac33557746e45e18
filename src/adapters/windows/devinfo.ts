import type { Form } from './render.js';

// DevInfo / DevDetail facts (MS-MDM standard objects). The client's first
// package Replaces ./DevInfo/DevId, Man, Mod, DmV, Lang; the server Gets
// ./DevDetail/SwV (the OS version) to choose the rendering form.

export const SWV = './DevDetail/SwV';
const KEPT = /^\.\/(DevInfo|DevDetail)\//;
const MAX_NODES = 64;

/** Keeps DevInfo/DevDetail values (bounded), returns the merged map. */
export function mergeNodes(into: Record<string, string>, target: string | undefined, data: string | undefined): Record<string, string> {
  if (!target || data === undefined || !KEPT.test(target)) return into;
  if (!(target in into) && Object.keys(into).length >= MAX_NODES) return into;
  into[target] = data.slice(0, 512);
  return into;
}

/**
 * Windows 8.1 is NT 6.3 and Windows Phone 8.1 reports 8.10.x: both predate
 * ClientCertificateInstall and get the CertificateStore form. Anything else
 * (10.0.x and later, or unknown) gets the ClientCertificateInstall form.
 */
export function formForOsVersion(v: string | null | undefined): Form {
  const m = /^(\d+)\.(\d+)/.exec(v?.trim() ?? '');
  if (!m) return 'modern';
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major === 6 && minor <= 3) return 'legacy';
  if (major === 8) return 'legacy';
  return 'modern';
}
