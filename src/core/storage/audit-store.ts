import type { AuditEvent } from '../model.js';
import type { AuditFilter } from './storage.js';

// The audit log.
export interface AuditStore {
  /**
   * Client-supplied values are bounded here, whoever appends (core/bounded.ts):
   * type, actor, reasonCode and transactionId at 256 characters, details at
   * AUDIT_BOUNDS; each cut is marked.
   */
  appendAudit(e: Omit<AuditEvent, 'id' | 'at'> & { at?: string }): Promise<void>;
  /** Append order (oldest first); with `limit`, the newest `limit` matching events, still oldest first. */
  listAudit(filter?: AuditFilter): Promise<AuditEvent[]>;
  /** Deletes audit events whose `at` is before `before` (retention); returns how many. */
  purgeAudit(before: string): Promise<number>;
}
