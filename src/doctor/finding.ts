// What a doctor check reports. A check answers for one aspect of the gateway
// (the CA certificate, GetCACaps, the clock...) with zero or more findings;
// the client lines are derived from them (clients.ts).

export type Severity = 'ok' | 'warning' | 'problem';

/** The SCEP/MDM client families the doctor answers for (clients.ts says what each needs). */
export const CLIENT_IDS = ['apple', 'windows10', 'windows81', 'android', 'certmonger', 'scepclient', 'sscep'] as const;
export type ClientId = (typeof CLIENT_IDS)[number];

export interface Finding {
  severity: Severity;
  message: string;
  /** The concrete change that removes the warning or problem (absent when ok). */
  fix?: string;
  /** Only these clients are affected (default: every client that depends on the check). */
  clients?: readonly ClientId[];
}

export interface CheckResult {
  check: string;
  title: string;
  findings: Finding[];
  /** Why the check could not run (e.g. the URL did not answer); no findings then. */
  skipped?: string;
}

export const ok = (message: string, clients?: readonly ClientId[]): Finding => ({ severity: 'ok', message, ...(clients && { clients }) });
export const warning = (message: string, fix: string, clients?: readonly ClientId[]): Finding => ({ severity: 'warning', message, fix, ...(clients && { clients }) });
export const problem = (message: string, fix: string, clients?: readonly ClientId[]): Finding => ({ severity: 'problem', message, fix, ...(clients && { clients }) });

const RANK: Record<Severity, number> = { ok: 0, warning: 1, problem: 2 };

export function worst(findings: readonly Finding[]): Severity {
  return findings.reduce<Severity>((w, f) => (RANK[f.severity] > RANK[w] ? f.severity : w), 'ok');
}
