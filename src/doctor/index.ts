import type { Config } from '../config.js';
import { checkApns } from './checks/apns.js';
import { checkCaCaps } from './checks/ca-caps.js';
import { checkCaCertResponse } from './checks/ca-cert-response.js';
import { checkCaCertificate } from './checks/ca-certificate.js';
import { checkCertificateFiles } from './checks/certificate-files.js';
import { checkClock } from './checks/clock.js';
import { checkPkiOperationGet } from './checks/pki-operation-get.js';
import { checkRaCertificate } from './checks/ra-certificate.js';
import { checkReachability } from './checks/reachability.js';
import { clientLines, type ClientLine } from './clients.js';
import type { DoctorMode, Evidence } from './evidence.js';
import type { CheckResult, Finding } from './finding.js';
import { configEvidence } from './sources/config-source.js';
import { urlEvidence } from './sources/url-source.js';

// `mdmgw doctor`: inspects a configured (config mode) or running (--url)
// gateway the way a PKI engineer would, then says per client family whether
// it can enroll and what to fix. docs/doctor.md describes every check.

interface Check {
  id: string;
  title: string;
  modes: readonly DoctorMode[];
  run(ev: Evidence): Finding[] | Promise<Finding[]>;
  /** Why the check cannot run on this evidence (then it is listed as not checked). */
  skip?(ev: Evidence): string | null;
}

const BOTH = ['config', 'url'] as const;
const unreachable = (ev: Evidence) => (ev.probe.unreachable ? `${ev.probe.scepUrl} did not answer` : null);
const noCertificate = (which: 'ca' | 'ra') => (ev: Evidence) =>
  ev.certificates[which] ? null : ev.mode === 'url' ? (unreachable(ev) ?? 'GetCACert gave no such certificate') : `no readable ${which}.pem`;

/** Which checks run in which mode, in the order they are printed. */
export const CHECKS: readonly Check[] = [
  { id: 'certificate-files', title: 'CA and RA files', modes: ['config'], run: checkCertificateFiles },
  { id: 'ca-certificate', title: 'CA certificate', modes: BOTH, run: checkCaCertificate, skip: noCertificate('ca') },
  { id: 'ra-certificate', title: 'RA certificate', modes: BOTH, run: checkRaCertificate, skip: noCertificate('ra') },
  { id: 'reachability', title: 'SCEP URL reachable', modes: BOTH, run: checkReachability },
  { id: 'ca-caps', title: 'GetCACaps', modes: BOTH, run: checkCaCaps, skip: unreachable },
  { id: 'ca-cert-response', title: 'GetCACert', modes: BOTH, run: checkCaCertResponse, skip: unreachable },
  { id: 'pki-operation-get', title: 'PKIOperation by GET', modes: BOTH, run: checkPkiOperationGet, skip: unreachable },
  { id: 'clock', title: 'clock', modes: BOTH, run: checkClock, skip: (ev) => unreachable(ev) ?? (ev.probe.clock ? null : 'no Date header') },
  { id: 'apns', title: 'APNs push certificate', modes: BOTH, run: checkApns },
];

export interface DoctorReport {
  mode: DoctorMode;
  target: string;
  checks: CheckResult[];
  clients: ClientLine[];
  problems: number;
  warnings: number;
}

export async function diagnose(ev: Evidence, target: string): Promise<DoctorReport> {
  const checks: CheckResult[] = [];
  for (const c of CHECKS.filter((c) => c.modes.includes(ev.mode))) {
    const skipped = c.skip?.(ev) ?? null;
    checks.push(skipped ? { check: c.id, title: c.title, findings: [], skipped } : { check: c.id, title: c.title, findings: await c.run(ev) });
  }
  const all = checks.flatMap((c) => c.findings);
  return {
    mode: ev.mode,
    target,
    checks,
    clients: clientLines(checks),
    problems: all.filter((f) => f.severity === 'problem').length,
    warnings: all.filter((f) => f.severity === 'warning').length,
  };
}

export type DoctorTarget = { mode: 'config'; config: Config } | { mode: 'url'; url: URL; adminToken?: string };

export async function runDoctor(target: DoctorTarget, opts: { now?: Date; timeoutMs?: number } = {}): Promise<DoctorReport> {
  const now = opts.now ?? new Date();
  if (target.mode === 'config') {
    const ev = await configEvidence(target.config, now, opts.timeoutMs);
    return diagnose(ev, `${target.config.publicUrl} (data directory ${target.config.dataDir})`);
  }
  const ev = await urlEvidence(target.url, target.adminToken, now, opts.timeoutMs);
  return diagnose(ev, target.url.toString());
}

/** 0: no problem (warnings allowed); 1: at least one problem. */
export function exitCodeOf(report: DoctorReport): 0 | 1 {
  return report.problems > 0 ? 1 : 0;
}

