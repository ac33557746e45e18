import { adapterSecrets, adapterSettings } from '../adapter-secrets.js';
import type { AdapterServices } from '../adapter.js';
import type { DeviceChangeListener } from '../device-changes.js';
import type { ComponentHealth } from '../health.js';
import type { Device } from '../model.js';
import type { SecretBox } from '../secret-box.js';
import type { AuditStore } from '../storage/audit-store.js';
import type { DirectoryStore } from '../storage/directory-store.js';
import type { PlatformStateStore } from '../storage/platform-state-store.js';
import type { UserPosition } from '../storage/storage.js';
import type { Logger } from '../../log.js';
import { type LdapConfig } from './ldap-config.js';
import { checkDirectory, LdapError, readDirectory } from './ldap-reader.js';
import { applyDirectory, DirectorySyncRefused, type SyncCounts } from './sync.js';

// The LDAP directory sync as the gateway runs it: its configuration and the
// sealed bind password in the settings table, a sync on demand or on its
// interval, and its last outcome (GET /directory/ldap/status, /health). A
// sync reads the whole directory before it changes anything, so a failed
// read leaves the last good directory in use.

const NAMESPACE = 'directory.ldap';
const PASSWORD = 'bindPassword';
/** Skipped entries kept in the status (the count is always whole). */
const MAX_SKIPPED_SHOWN = 20;

export interface LdapSyncStatus {
  configured: boolean;
  running: boolean;
  lastSyncAt: string | null;
  lastSuccessAt: string | null;
  lastFullSyncAt: string | null;
  lastError: string | null;
  /** What the last successful sync changed. */
  lastResult: SyncCounts | null;
  /** Users and groups from the directory now. */
  counts: { users: number; enabledUsers: number; groups: number };
  skipped: { count: number; first: string[] };
}

interface Cursor {
  highWater: string | null;
  scheduledRuns: number;
}

type StoredStatus = Omit<LdapSyncStatus, 'configured' | 'running' | 'counts'>;

const EMPTY_STATUS: StoredStatus = { lastSyncAt: null, lastSuccessAt: null, lastFullSyncAt: null, lastError: null, lastResult: null, skipped: { count: 0, first: [] } };

/** The sync is not configured, or another sync is running: the caller's request cannot run now. */
export class LdapSyncUnavailable extends Error {
  constructor(
    message: string,
    readonly reason: 'not-configured' | 'busy',
  ) {
    super(message);
  }
}

export interface LdapSyncDeps {
  storage: DirectoryStore & AuditStore & PlatformStateStore;
  box: SecretBox;
  log: Logger;
  devicesChanged: DeviceChangeListener;
  now: () => Date;
}

export class LdapDirectorySync {
  readonly #secrets: AdapterServices['secrets'];
  readonly #settings: AdapterServices['settings'];
  #running = false;

  constructor(private readonly d: LdapSyncDeps) {
    this.#secrets = adapterSecrets(d.storage, d.box, NAMESPACE);
    this.#settings = adapterSettings(d.storage, NAMESPACE);
  }

  async config(): Promise<LdapConfig | null> {
    const raw = await this.#settings.get('config');
    return raw === null ? null : (JSON.parse(raw) as LdapConfig);
  }

  async hasPassword(): Promise<boolean> {
    return (await this.d.storage.getSetting(`${NAMESPACE}.secret.${PASSWORD}`)) !== null;
  }

  /**
   * Checks the configuration against the directory (bind, one entry per
   * filter) and saves it; throws LdapError, saving nothing, when the check
   * fails. `password` undefined keeps the stored one. Does not sync.
   */
  async configure(config: LdapConfig, password: string | undefined): Promise<void> {
    const bindPassword = password ?? (await this.#secrets.get(PASSWORD));
    if (bindPassword === null) throw new LdapSyncUnavailable('bindPassword: required (none is stored yet)', 'not-configured');
    await checkDirectory(config, bindPassword);
    const before = await this.config();
    await this.#secrets.put(PASSWORD, bindPassword);
    await this.#settings.put('config', JSON.stringify(config));
    // Another directory, base or filter: the next read starts from scratch.
    if (!before || before.url !== config.url || before.userBaseDn !== config.userBaseDn || before.userFilter !== config.userFilter || before.preset !== config.preset || JSON.stringify(before.attributes) !== JSON.stringify(config.attributes)) {
      await this.#putCursor({ highWater: null, scheduledRuns: 0 });
    }
  }

  async status(): Promise<LdapSyncStatus> {
    const raw = await this.#settings.get('status');
    const stored: StoredStatus = raw === null ? EMPTY_STATUS : { ...EMPTY_STATUS, ...(JSON.parse(raw) as Partial<StoredStatus>) };
    const counts = { users: 0, enabledUsers: 0, groups: (await this.d.storage.listGroups()).filter((g) => g.source === 'ldap').length };
    for (let after: UserPosition | undefined; ; ) {
      const page = await this.d.storage.listUsersPage({ source: 'ldap', limit: 10_000, ...(after && { after }) });
      counts.users += page.length;
      counts.enabledUsers += page.filter((u) => u.enabled).length;
      if (page.length < 10_000) break;
      after = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id };
    }
    return { configured: (await this.config()) !== null, running: this.#running, ...stored, counts };
  }

  /** Whether the schedule should run a sync now. */
  async isDue(): Promise<boolean> {
    const config = await this.config();
    if (!config || config.syncIntervalSeconds === 0 || this.#running) return false;
    const raw = await this.#settings.get('status');
    const last = raw === null ? null : (JSON.parse(raw) as StoredStatus).lastSyncAt;
    return last === null || this.d.now().getTime() - Date.parse(last) >= config.syncIntervalSeconds * 1000;
  }

  /**
   * One scheduled run: incremental, except the first and every
   * `fullSyncEvery`th, which read everything (only a full read sees deletions).
   * Failures are recorded in the status and logged, never thrown.
   */
  async runScheduled(): Promise<void> {
    const config = await this.config();
    if (!config) return;
    const cursor = await this.#cursor();
    const full = cursor.highWater === null || cursor.scheduledRuns % config.fullSyncEvery === 0;
    await this.#putCursor({ ...cursor, scheduledRuns: cursor.scheduledRuns + 1 });
    await this.syncNow({ full }).catch((e: unknown) => {
      if (!(e instanceof LdapSyncUnavailable)) return; // recorded in the status and logged by syncNow
      this.d.log.info({ reason: e.message }, 'scheduled directory sync skipped');
    });
  }

  /** Reads the directory and applies it. Throws LdapError (read failed), DirectorySyncRefused, LdapSyncUnavailable. */
  async syncNow(opts: { full: boolean }): Promise<SyncCounts> {
    const config = await this.config();
    const password = await this.#secrets.get(PASSWORD);
    if (!config || password === null) throw new LdapSyncUnavailable('the LDAP directory is not configured (PUT /api/v1/directory/ldap)', 'not-configured');
    if (this.#running) throw new LdapSyncUnavailable('a directory sync is already running', 'busy');
    this.#running = true;
    const startedAt = this.d.now().toISOString();
    try {
      const cursor = await this.#cursor();
      const incremental = !opts.full && cursor.highWater !== null;
      const read = await readDirectory(config, password, incremental ? cursor.highWater : null);
      const outcome = await applyDirectory({ storage: this.d.storage, source: 'ldap', now: startedAt }, read.snapshot);
      await this.#putCursor({ ...(await this.#cursor()), highWater: read.highWater ?? cursor.highWater });
      const previous = await this.#storedStatus();
      await this.#putStatus({
        lastSyncAt: startedAt,
        lastSuccessAt: startedAt,
        lastFullSyncAt: read.snapshot.full ? startedAt : previous.lastFullSyncAt,
        lastError: null,
        lastResult: outcome.counts,
        skipped: { count: outcome.skipped.length, first: outcome.skipped.slice(0, MAX_SKIPPED_SHOWN) },
      });
      await this.d.storage.appendAudit({ transactionId: null, type: 'directory.sync', reasonCode: null, actor: 'ldap-sync', details: { full: read.snapshot.full, ...outcome.counts, skipped: outcome.skipped.length } });
      this.d.log.info({ full: read.snapshot.full, ...outcome.counts, skipped: outcome.skipped.length }, 'directory sync done');
      if (outcome.affectedUserIds.length > 0) this.d.devicesChanged(this.#devicesOf(outcome.affectedUserIds));
      return outcome.counts;
    } catch (e) {
      const message = e instanceof LdapError || e instanceof DirectorySyncRefused ? e.message : `the sync failed: ${(e as Error).message}`;
      await this.#putStatus({ ...(await this.#storedStatus()), lastSyncAt: startedAt, lastError: message }).catch(() => {});
      this.d.log.warn({ error: message }, 'directory sync failed; the last good directory stays in use');
      throw e;
    } finally {
      this.#running = false;
    }
  }

  /** The /api/v1/health component; null when no directory is configured. */
  async health(): Promise<ComponentHealth | null> {
    const s = await this.status();
    if (!s.configured) return null;
    const details = { lastSyncAt: s.lastSyncAt, lastSuccessAt: s.lastSuccessAt, ...s.counts };
    if (s.lastError) return { component: 'directory:ldap', status: 'warning', message: `the last directory sync failed (the last good directory stays in use): ${s.lastError}`, details };
    if (!s.lastSuccessAt) return { component: 'directory:ldap', status: 'warning', message: 'the LDAP directory is configured but has not been synced yet', details };
    return { component: 'directory:ldap', status: 'ok', message: 'the last directory sync succeeded', details };
  }

  async #devicesOf(userIds: string[]): Promise<Device[]> {
    const lists = await Promise.all(userIds.map((id) => this.d.storage.listDevicesOfUser(id)));
    return lists.flat();
  }

  async #cursor(): Promise<Cursor> {
    const raw = await this.#settings.get('cursor');
    return raw === null ? { highWater: null, scheduledRuns: 0 } : (JSON.parse(raw) as Cursor);
  }

  async #putCursor(c: Cursor): Promise<void> {
    await this.#settings.put('cursor', JSON.stringify(c));
  }

  async #storedStatus(): Promise<StoredStatus> {
    const raw = await this.#settings.get('status');
    return raw === null ? EMPTY_STATUS : { ...EMPTY_STATUS, ...(JSON.parse(raw) as Partial<StoredStatus>) };
  }

  async #putStatus(s: StoredStatus): Promise<void> {
    await this.#settings.put('status', JSON.stringify(s));
  }
}

/**
 * Runs the sync on its interval. `wrap` is where a multi-instance lease goes:
 * it gets each due run and decides whether this instance does it (the
 * default runs it here). One run at a time per instance.
 */
export function startLdapSyncSchedule(sync: LdapDirectorySync, log: Logger, opts: { tickMs?: number; wrap?: (run: () => Promise<void>) => Promise<void> } = {}): { stop(): Promise<void>; tick(): Promise<void> } {
  const wrap = opts.wrap ?? ((run) => run());
  let busy: Promise<void> | null = null;
  const tick = async () => {
    if (busy) return busy;
    busy = (async () => {
      try {
        if (await sync.isDue()) await wrap(() => sync.runScheduled());
      } catch (err) {
        log.error({ err }, 'directory sync schedule failed');
      } finally {
        busy = null;
      }
    })();
    return busy;
  };
  const timer = setInterval(() => void tick(), opts.tickMs ?? 15_000);
  timer.unref();
  // stop() waits for a run in flight, so nothing touches storage after the gateway closed it.
  return {
    stop: async () => {
      clearInterval(timer);
      await busy;
    },
    tick,
  };
}
