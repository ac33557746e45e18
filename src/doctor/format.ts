import type { DoctorReport } from './index.js';
import type { Severity } from './finding.js';

// The human-readable report: the checks, then one line per client family with
// the fix for each problem. `--json` prints the DoctorReport itself instead.

const LABEL: Record<Severity, string> = { ok: 'ok     ', warning: 'WARNING', problem: 'PROBLEM' };

export function formatReport(r: DoctorReport): string {
  const lines: string[] = [`mdmgw doctor: ${r.target} (${r.mode === 'config' ? 'configuration and data directory' : 'running gateway over HTTP'})`, '', 'Checks'];
  const width = Math.max(...r.checks.map((c) => c.title.length));
  for (const c of r.checks) {
    const head = `  ${c.title.padEnd(width)}  `;
    if (c.skipped) {
      lines.push(`${head}-        not checked: ${c.skipped}`);
      continue;
    }
    c.findings.forEach((f, i) => {
      lines.push(`${i === 0 ? head : ' '.repeat(head.length)}${LABEL[f.severity]}  ${f.message}`);
      if (f.fix) lines.push(`${' '.repeat(head.length + 9)}fix: ${f.fix}`);
    });
  }
  lines.push('', 'Clients');
  const nameWidth = Math.max(...r.clients.map((c) => c.name.length));
  for (const c of r.clients) {
    if (c.status === 'OK') {
      lines.push(`  ${c.status.padEnd(4)}  ${c.name.padEnd(nameWidth)}  needs ${c.summary}`);
      continue;
    }
    c.issues.forEach((issue, i) => {
      const lead = i === 0 ? `  ${c.status.padEnd(4)}  ${c.name.padEnd(nameWidth)}  ` : ' '.repeat(nameWidth + 10);
      lines.push(`${lead}${issue.message} -> fix: ${issue.fix}`);
    });
  }
  lines.push('', r.problems > 0 ? `${r.problems} problem(s), ${r.warnings} warning(s)` : `no problems, ${r.warnings} warning(s)`);
  return `${lines.join('\n')}\n`;
}
