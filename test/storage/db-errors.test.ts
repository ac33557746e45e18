import { describe, expect, it } from 'vitest';
import { describeDatabaseError, isDatabaseUnavailable, maskDatabaseUrl } from '../../src/core/storage/db-errors.js';

const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it('is true for connection loss: socket errors, SQLSTATE 08xxx/57P01-3/53300, pg pool and termination errors, SQLITE_BUSY', () => {
    for (const e of [
      coded('ECONNREFUSED'),
      coded('ECONNRESET'),
      coded('08006'),
      coded('08001'),
      coded('57P01', 'terminating connection due to administrator command'),
      coded('57P03', 'the database system is starting up'),
      coded('53300'),
      coded('SQLITE_BUSY'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]),
      new Error('wrapped', { cause: coded('ECONNREFUSED') }),
    ]) {
      expect(isDatabaseUnavailable(e), String((e as Error).message)).toBe(true);
    }
  });

  it('is false for errors a retry does not fix', () => {
    for (const e of [coded('23505'), coded('SQLITE_CONSTRAINT_UNIQUE'), coded('42P01'), coded('28P01'), new TypeError('bug'), null, undefined, 'text']) {
      expect(isDatabaseUnavailable(e)).toBe(false);
    }
  });
});

describe('maskDatabaseUrl', () => {
  it('masks the password and drops query parameters', () => {
    expect(maskDatabaseUrl('postgres://mdmgw:hunter2@db:5432/mdmgw')).toBe('postgres://mdmgw:****@db:5432/mdmgw');
    expect(maskDatabaseUrl('postgresql://mdmgw@db/mdmgw?password=hunter2&sslmode=require')).toBe('postgresql://mdmgw@db/mdmgw');
    expect(maskDatabaseUrl('postgres://a:p%40ss@h/d')).toBe('postgres://a:****@h/d');
    expect(maskDatabaseUrl('sqlite:///var/lib/mdmgw.sqlite')).toBe('sqlite:///var/lib/mdmgw.sqlite');
    expect(maskDatabaseUrl('postgres://a:hunter2@:5/d')).not.toContain('hunter2');
  });
});

describe('describeDatabaseError', () => {
  it('gives the message and the code once', () => {
    expect(describeDatabaseError(coded('28P01', 'password authentication failed for user "x"'))).toBe('password authentication failed for user "x" (28P01)');
    expect(describeDatabaseError(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'))).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(describeDatabaseError(Object.assign(new AggregateError([coded('ECONNREFUSED', 'connect ECONNREFUSED ::1:5432')]), { code: 'ECONNREFUSED' }))).toBe('connect ECONNREFUSED ::1:5432');
  });
});
