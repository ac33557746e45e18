import Database from 'better-sqlite3';

// The SQL a code path runs, as better-sqlite3 executes it (the statement
// budgets of issue 13: test/e2e/*-statements.test.ts). Wraps the statement
// prototype's run/get/all/iterate once per recorder; statements are recorded
// only while `recording` is true, whitespace collapsed.

export interface StatementRecorder {
  readonly executed: string[];
  recording: boolean;
}

export function recordSqliteStatements(): StatementRecorder {
  const recorder: StatementRecorder = { executed: [], recording: false };
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  for (const m of ['run', 'get', 'all', 'iterate']) {
    const original = proto[m]!;
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      if (recorder.recording) recorder.executed.push(this.source.replace(/\s+/g, ' '));
      return original.apply(this, args);
    };
  }
  return recorder;
}

/** Commits: each `commit`, and each write outside a transaction (autocommit). */
export function commitsOf(statements: readonly string[]): number {
  let inTransaction = false;
  let commits = 0;
  for (const s of statements) {
    if (/^begin/i.test(s)) inTransaction = true;
    else if (/^(commit|rollback)/i.test(s)) {
      inTransaction = false;
      if (/^commit/i.test(s)) commits += 1;
    } else if (!inTransaction && /^(insert|update|delete|replace)/i.test(s)) commits += 1;
  }
  return commits;
}
