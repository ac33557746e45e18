import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Storage } from '../../src/core/storage/storage.js';
import { directoryContract } from './contract/directory.js';
import { profilesContract } from './contract/profiles.js';
import { assignmentsContract } from './contract/assignments.js';
import { issuanceContract } from './contract/issuance.js';
import { deliveriesContract } from './contract/deliveries.js';
import { enrollmentTokensContract } from './contract/enrollment-tokens.js';
import { commandsContract } from './contract/commands.js';
import { platformStateContract } from './contract/platform-state.js';
import { auditContract } from './contract/audit.js';
import { coordinationContract } from './contract/coordination.js';
import { upstreamRequestsContract } from './contract/upstream-requests.js';
import { planGenerationContract } from './contract/plan-generation.js';
import { preparedContract } from './contract/prepared.js';

// Backend-independent contract for src/core/storage/storage.ts. Every backend
// registers it with a factory that returns a fresh, migrated, empty Storage:
//
//   storageContract('sqlite :memory:', () => openSqliteStorage(':memory:'));
//
// It only talks to the Storage interface, so PostgreSQL runs the same checks.
// One file per store under contract/ (one describe per concern), all run here.

export function storageContract(name: string, open: () => Promise<Storage>): void {
  describe(`storage contract: ${name}`, () => {
    let s: Storage;
    let opened: Storage | undefined; // unset when open() failed, so afterEach does not mask the error

    beforeEach(async () => {
      opened = undefined;
      s = await open();
      opened = s;
    });

    afterEach(async () => {
      await opened?.close();
    });

    // ---- lifecycle --------------------------------------------------------------

    it('a migrated storage has no pending migrations; a closed one does not answer', async () => {
      expect(await s.pendingMigrations()).toEqual([]);
      await s.migrate();
      expect(await s.pendingMigrations()).toEqual([]);
      await s.close();
      opened = undefined;
      await expect(s.pendingMigrations()).rejects.toThrow();
    });

    it('migrate() is idempotent and keeps data', async () => {
      const u = await s.createUser({ userPrincipalName: 'a@x', email: 'a@x', displayName: 'A' });
      await s.migrate();
      await s.migrate();
      expect(await s.getUser(u.id)).toEqual(u);
    });

    // ---- one describe per store (contract/) ---------------------------------------

    directoryContract(() => s);
    profilesContract(() => s);
    assignmentsContract(() => s);
    issuanceContract(() => s);
    deliveriesContract(() => s);
    enrollmentTokensContract(() => s);
    commandsContract(() => s);
    platformStateContract(() => s);
    auditContract(() => s);
    coordinationContract(() => s);
    upstreamRequestsContract(() => s);
    planGenerationContract(() => s);
    preparedContract(() => s);
  });
}
