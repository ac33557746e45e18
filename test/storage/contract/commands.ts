import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';
import { expectStorageError } from './fixtures.js';
import { isCommandId, uuidv7 } from '../../../src/core/command-id.js';

/** The CommandStore part of the storage contract; `current` is the fresh storage of the running test. */
export function commandsContract(current: () => Storage): void {
  describe('CommandStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('device commands', () => {
      it('queue per channel, one in flight, NotNow offered again, answers recorded', async () => {
        const d = await s.createDevice({ name: 'mac', platform: 'macos' });
        const cmd = (kind: string, channel = 'device') => s.enqueueCommand({ deviceId: d.id, channel, kind, payload: { kind }, profileId: null, profileVersion: null });
        const a = await cmd('InstallProfile');
        const b = await cmd('ProfileList');
        const u = await cmd('InstallProfile', 'user:501');
        expect(a.status).toBe('queued');

        const first = await s.nextCommand(d.id, 'device');
        expect(first).toMatchObject({ id: a.id, status: 'sent', payload: { kind: 'InstallProfile' } });
        // Unanswered: offered again before anything else.
        expect((await s.nextCommand(d.id, 'device'))?.id).toBe(a.id);
        expect((await s.nextCommand(d.id, 'device', [a.id]))?.id).toBe(b.id);

        expect(await s.updateCommand(a.id, d.id, 'notnow', null)).toMatchObject({ status: 'notnow' });
        expect(await s.updateCommand(b.id, d.id, 'acknowledged', { Status: 'Acknowledged' })).toMatchObject({ result: { Status: 'Acknowledged' } });
        expect((await s.nextCommand(d.id, 'device'))?.id).toBe(a.id);
        expect(await s.updateCommand(a.id, d.id, 'error', { ErrorChain: [{ ErrorCode: 4001 }] })).toMatchObject({ status: 'error' });
        expect(await s.nextCommand(d.id, 'device')).toBeNull();
        expect((await s.nextCommand(d.id, 'user:501'))?.id).toBe(u.id);

        expect(await s.updateCommand(a.id, 'someone-else', 'acknowledged', null)).toBeNull();
        expect((await s.listCommands({ deviceId: d.id })).map((c) => c.status)).toEqual(['error', 'acknowledged', 'sent']);
        expect(await s.listCommands({ deviceId: d.id, status: 'acknowledged' })).toHaveLength(1);
        await expectStorageError(s.enqueueCommand({ deviceId: '00000000-0000-4000-8000-000000000000', channel: 'device', kind: 'x', payload: {}, profileId: null, profileVersion: null }), 'not-found');
      });

      it('peekNextCommand (no skip) answers what nextCommand would offer, and takes nothing', async () => {
        const d = await s.createDevice({ name: 'peek', platform: 'ios' });
        expect(await s.peekNextCommand(d.id, 'device')).toBeNull();
        const cmd = (kind: string, channel = 'device') => s.enqueueCommand({ deviceId: d.id, channel, kind, payload: { kind }, profileId: null, profileVersion: null });
        const a = await cmd('ProfileList');
        const b = await cmd('CertificateList');
        expect(await s.peekNextCommand(d.id, 'user:501')).toBeNull();
        expect(await s.peekNextCommand(d.id, 'device')).toMatchObject({ id: a.id, status: 'queued' });
        expect(await s.peekNextCommand(d.id, 'device')).toMatchObject({ id: a.id, status: 'queued' }); // still queued: not taken
        // A sent, unanswered one comes first, as nextCommand offers it.
        expect(await s.updateCommand(b.id, d.id, 'sent', null)).toMatchObject({ status: 'sent' });
        expect((await s.peekNextCommand(d.id, 'device'))?.id).toBe(b.id);
        expect((await s.nextCommand(d.id, 'device'))?.id).toBe(b.id);
        expect(await s.updateCommand(b.id, d.id, 'acknowledged', null)).toMatchObject({ status: 'acknowledged' });
        expect(await s.updateCommand(a.id, d.id, 'notnow', null)).toMatchObject({ status: 'notnow' });
        expect((await s.peekNextCommand(d.id, 'device'))?.id).toBe(a.id);
        expect(await s.updateCommand(a.id, d.id, 'error', null)).toMatchObject({ status: 'error' });
        expect(await s.peekNextCommand(d.id, 'device')).toBeNull();
      });
    });
    describe('command exchange', () => {
      it('peekNextCommand reads what nextCommand would take, without taking it', async () => {
        const d = await s.createDevice({ name: 'peek', platform: 'ios' });
        const a = await s.enqueueCommand({ deviceId: d.id, channel: 'device', kind: 'InstallProfile', payload: {}, profileId: null, profileVersion: null });
        const b = await s.enqueueCommand({ deviceId: d.id, channel: 'device', kind: 'ProfileList', payload: {}, profileId: null, profileVersion: null });
        expect(await s.peekNextCommand(d.id, 'device')).toMatchObject({ id: a.id, status: 'queued' });
        expect((await s.peekNextCommand(d.id, 'device', [a.id]))?.id).toBe(b.id);
        expect(await s.peekNextCommand(d.id, 'user:1')).toBeNull();
        expect((await s.listCommands({ deviceId: d.id })).map((c) => c.status)).toEqual(['queued', 'queued']);
        // A command in flight comes first, as nextCommand's.
        await s.nextCommand(d.id, 'device', [a.id]);
        expect((await s.peekNextCommand(d.id, 'device'))?.id).toBe(b.id);
      });

      it('recordCommandExchange writes the answer, cancellations, follow-ups, the take, state, statuses and audit together', async () => {
        const d = await s.createDevice({ name: 'exchange', platform: 'ios' });
        const q = (kind: string) => s.enqueueCommand({ deviceId: d.id, channel: 'device', kind, payload: { kind }, profileId: null, profileVersion: null });
        const answered = await q('InstallProfile');
        await s.nextCommand(d.id, 'device');
        const obsolete = await q('InstallProfile');
        const next = await q('RemoveProfile');
        const auditBefore = (await s.listAudit()).length;
        const written = await s.recordCommandExchange({
          deviceId: d.id,
          answer: { id: answered.id, status: 'acknowledged', result: { Status: 'Acknowledged' } },
          cancel: [{ id: obsolete.id, result: { reason: 'gone' } }],
          enqueue: [{ deviceId: d.id, channel: 'device', kind: 'CertificateList', payload: {}, profileId: null, profileVersion: null }],
          send: { id: next.id, status: 'queued' },
          state: { adapter: 'apple', state: { enrolled: true, n: 1 } },
          statuses: [{ status: { deviceId: d.id, profileId: 'p-x', profileVersion: 2, state: 'enrolling', thumbprint: null, certificateSerial: null, errorCode: null, detail: 'sent' }, actor: `device:${d.id}` }],
          audit: [{ transactionId: null, type: 'apple.command.sent', reasonCode: null, actor: `device:${d.id}`, details: { commandId: next.id } }],
        });
        expect(written).toBe(true);
        const cmds = await s.listCommands({ deviceId: d.id });
        expect(cmds.map((c) => [c.kind, c.status])).toEqual([
          ['InstallProfile', 'acknowledged'],
          ['InstallProfile', 'cancelled'],
          ['RemoveProfile', 'sent'],
          ['CertificateList', 'queued'],
        ]);
        expect(cmds[0]!.result).toEqual({ Status: 'Acknowledged' });
        expect(cmds[1]!.result).toEqual({ reason: 'gone' });
        expect(await s.getPlatformState(d.id, 'apple')).toEqual({ enrolled: true, n: 1 });
        expect(await s.listDeliveryStatus({ deviceId: d.id })).toMatchObject([{ profileId: 'p-x', state: 'enrolling', detail: 'sent' }]);
        const audit = (await s.listAudit()).slice(auditBefore);
        expect(audit.map((e) => e.type)).toEqual(['device.report', 'apple.command.sent']);
      });

      it('recordCommandExchange queues commands under the ids the caller named, in their order, with the rest (apple13)', async () => {
        const d = await s.createDevice({ name: 'named', platform: 'ios' });
        const ids = [uuidv7(), uuidv7(), uuidv7()];
        const cmd = (id: string, n: number) => ({ id, deviceId: d.id, channel: 'device', kind: 'InstallProfile', payload: { n }, profileId: `p-${n}`, profileVersion: 1 });
        const written = await s.recordCommandExchange({
          deviceId: d.id,
          enqueue: ids.map((id, n) => cmd(id, n)),
          state: { adapter: 'apple', state: { profiles: ids } },
          statuses: [{ status: { deviceId: d.id, profileId: 'p-0', profileVersion: 1, state: 'pending', thumbprint: null, certificateSerial: null, errorCode: null, detail: `queued (${ids[0]})` }, actor: `device:${d.id}` }],
        });
        expect(written).toBe(true);
        const cmds = await s.listCommands({ deviceId: d.id });
        expect(cmds.map((c) => [c.id, c.status, c.payload])).toEqual(ids.map((id, n) => [id, 'queued', { n }]));
        // The state written with them names them as stored, and the queue offers them in order.
        expect(await s.getPlatformState(d.id, 'apple')).toEqual({ profiles: ids });
        expect((await s.peekNextCommand(d.id, 'device'))?.id).toBe(ids[0]);
        expect(isCommandId(ids[0]!)).toBe(true);
        // An id already in use: the whole exchange is refused, nothing of it written.
        const again = await s.recordCommandExchange({ deviceId: d.id, enqueue: [cmd(uuidv7(), 7), cmd(ids[1]!, 8)], state: { adapter: 'apple', state: { profiles: [] } } }).catch((e: unknown) => e);
        expect(again).toBeInstanceOf(Error);
        expect(await s.listCommands({ deviceId: d.id })).toHaveLength(3);
        expect(await s.getPlatformState(d.id, 'apple')).toEqual({ profiles: ids });
      });

      it('recordCommandExchange writes nothing when the command to send changed since it was read', async () => {
        const d = await s.createDevice({ name: 'raced', platform: 'ios' });
        const a = await s.enqueueCommand({ deviceId: d.id, channel: 'device', kind: 'InstallProfile', payload: {}, profileId: null, profileVersion: null });
        const b = await s.enqueueCommand({ deviceId: d.id, channel: 'device', kind: 'ProfileList', payload: {}, profileId: null, profileVersion: null });
        await s.nextCommand(d.id, 'device'); // a taken elsewhere: no longer 'queued'
        const auditBefore = (await s.listAudit()).length;
        const written = await s.recordCommandExchange({
          deviceId: d.id,
          answer: { id: b.id, status: 'acknowledged', result: null },
          send: { id: a.id, status: 'queued' },
          state: { adapter: 'apple', state: { x: 1 } },
          statuses: [{ status: { deviceId: d.id, profileId: 'p-y', profileVersion: 1, state: 'enrolling', thumbprint: null, certificateSerial: null, errorCode: null, detail: null }, actor: 'device' }],
          audit: [{ transactionId: null, type: 'apple.command.sent', reasonCode: null, actor: 'device', details: {} }],
        });
        expect(written).toBe(false);
        expect((await s.listCommands({ deviceId: d.id })).map((c) => c.status)).toEqual(['sent', 'queued']);
        expect(await s.getPlatformState(d.id, 'apple')).toBeNull();
        expect(await s.listDeliveryStatus({ deviceId: d.id })).toEqual([]);
        expect((await s.listAudit()).length).toBe(auditBefore);
        // An unknown device: not-found, nothing written.
        await expectStorageError(s.recordCommandExchange({ deviceId: '00000000-0000-4000-8000-000000000000', state: { adapter: 'apple', state: {} } }), 'not-found');
      });
    });

    describe('purgeAnsweredCommands', () => {
      it('deletes answered commands past their age or beyond the newest per device; never queued, sent or NotNow ones', async () => {
        const d1 = await s.createDevice({ name: 'mac-1', platform: 'macos' });
        const d2 = await s.createDevice({ name: 'mac-2', platform: 'macos' });
        const cmd = (deviceId: string, kind: string) => s.enqueueCommand({ deviceId, channel: 'device', kind, payload: {}, profileId: null, profileVersion: null });
        const answered: string[] = [];
        for (let i = 0; i < 5; i++) {
          const c = await cmd(d1.id, `A${i}`);
          await s.updateCommand(c.id, d1.id, (['acknowledged', 'error', 'formaterror', 'cancelled', 'acknowledged'] as const)[i]!, null);
          answered.push(c.id);
        }
        const queued = await cmd(d1.id, 'Q');
        const notNow = await cmd(d1.id, 'N');
        await s.updateCommand(notNow.id, d1.id, 'notnow', null);
        const sent = await cmd(d1.id, 'S');
        await s.nextCommand(d1.id, 'device', [queued.id, notNow.id]);
        const other = await cmd(d2.id, 'B');
        await s.updateCommand(other.id, d2.id, 'acknowledged', null);
        const past = '2000-01-01T00:00:00Z';

        // Keep the newest 2 answered of each device: 3 of d1's go, d2's one stays.
        expect(await s.purgeAnsweredCommands(past, 2)).toBe(3);
        expect((await s.listCommands({ deviceId: d1.id })).map((c) => c.id)).toEqual([answered[3], answered[4], queued.id, notNow.id, sent.id]);
        expect(await s.purgeAnsweredCommands(past, 2)).toBe(0);
        // Everything answered before `before` goes, whatever the count.
        expect(await s.purgeAnsweredCommands(new Date(Date.now() + 60_000).toISOString(), 100)).toBe(3);
        expect((await s.listCommands({ deviceId: d1.id })).map((c) => c.status)).toEqual(['queued', 'notnow', 'sent']);
        expect(await s.listCommands({ deviceId: d2.id })).toEqual([]);
        await expect(s.purgeAnsweredCommands(past, -1)).rejects.toThrow(RangeError);
      });
    });
  });
}
