// A PKCS#11 token (SoftHSM, a network HSM, a smart card) holding the
// gateway's CA and RA keys. One Pkcs11Token per module and token per process:
// the module is initialised once, the user logs in once (a PKCS#11 login is
// per application, shared by all its sessions), and signing borrows a session
// from a small pool so concurrent enrollments do not queue on one session.
//
// Every PKCS#11 failure the operator can act on becomes a TokenError whose
// message says what to fix (module path, token label, PIN, token removed).
// The PIN is kept in memory only, for logging in again after the token
// logged us out; it is never logged or put into an error message.

import { access, constants as fsConstants } from 'node:fs/promises';
import { accessSync } from 'node:fs';
import pkcs11js from 'pkcs11js';

export class TokenError extends Error {
  constructor(
    message: string,
    /** The PKCS#11 return value name (CKR_PIN_INCORRECT, ...) when the token gave one. */
    readonly ckr: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TokenError';
  }
}

export interface TokenOptions {
  /** Path of the PKCS#11 module (.so). */
  module: string;
  /** CKA_LABEL of the token (trailing blanks ignored). Either this or `slot`. */
  tokenLabel?: string;
  /** Slot index in C_GetSlotList(true) order, when no label is given. */
  slot?: number;
  pin: string;
}

type Handle = Buffer;

// CK_STATE values (PKCS#11 2.40 section 5.7); pkcs11js does not export them.
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** Sessions kept open for signing; more concurrent signatures wait for one. */
export const SESSION_POOL_SIZE = 4;

const SESSION_LOST = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_DEVICE_ERROR']);

/** The CKR_* name of a pkcs11js error, or null. */
export function ckrOf(e: unknown): string | null {
  const m = /^(CKR_[A-Z_0-9]+)/.exec((e as Error | undefined)?.message ?? '');
  return m ? m[1]! : null;
}

const open = new Map<string, { token: Pkcs11Token; users: number }>();

// A module is one shared library with process-wide state: C_Finalize by one
// user ends every other user's sessions. So each module is loaded and
// initialised once, and finalised when its last token is closed.
const modules = new Map<string, { lib: pkcs11js.PKCS11; users: number }>();

function acquireModule(path: string): pkcs11js.PKCS11 {
  const loaded = modules.get(path);
  if (loaded) {
    loaded.users++;
    return loaded.lib;
  }
  const lib = new pkcs11js.PKCS11();
  try {
    accessSync(path);
    lib.load(path);
  } catch (e) {
    throw new TokenError(`cannot load PKCS#11 module ${path}: ${(e as Error).message}`, ckrOf(e), { cause: e });
  }
  try {
    // Signatures run on libuv's thread pool (C_SignAsync), so the module must
    // lock for itself: without CKF_OS_LOCKING_OK it may assume one thread
    // (SoftHSM then corrupted its heap under concurrent signing).
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    // Another library in this process (not us: we share `modules`) may have initialised it.
    if (ckrOf(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      lib.close();
      throw new TokenError(`cannot initialise PKCS#11 module ${path}: ${(e as Error).message}`, ckrOf(e), { cause: e });
    }
  }
  modules.set(path, { lib, users: 1 });
  return lib;
}

function releaseModule(path: string): void {
  const loaded = modules.get(path);
  if (!loaded || --loaded.users > 0) return;
  modules.delete(path);
  try {
    loaded.lib.C_Finalize();
  } catch {
    // not initialised (any more)
  }
  try {
    loaded.lib.close();
  } catch {
    // already closed
  }
}

/**
 * Opens (or shares) the token: loads the module, finds the token, logs in.
 * Each call must be paired with `release()`; the module is finalised when the
 * last user releases it.
 */
export async function openToken(o: TokenOptions): Promise<Pkcs11Token> {
  const id = `${o.module}\0${o.tokenLabel ?? ''}\0${o.slot ?? ''}`;
  const shared = open.get(id);
  if (shared) {
    // PKCS#11 logins are per process: a second C_Login would be "already logged in" whatever the PIN.
    if (shared.token.pin !== o.pin) throw new TokenError(`the PKCS#11 ${shared.token.name} is already open in this process with another PIN`, 'CKR_PIN_INCORRECT');
    shared.users++;
    return shared.token;
  }
  try {
    await access(o.module, fsConstants.R_OK);
  } catch {
    throw new TokenError(`PKCS#11 module ${o.module} not found or not readable (MDMGW_PKCS11_MODULE)`);
  }
  const token = new Pkcs11Token(o, () => {
    const entry = open.get(id);
    if (entry && --entry.users === 0) {
      open.delete(id);
      return true;
    }
    return false;
  });
  open.set(id, { token, users: 1 });
  try {
    token.start();
  } catch (e) {
    open.delete(id);
    token.finalize();
    throw e;
  }
  return token;
}

export class Pkcs11Token {
  private lib!: pkcs11js.PKCS11;
  private slot: Handle | null = null;
  /** Every session this token opened (idle or lent out): closed by finalize(). */
  private readonly all = new Set<Handle>();
  private idle: Handle[] = [];
  private sessions = 0;
  private waiting: ((s: Handle) => void)[] = [];
  private loaded = false;
  /** How errors name the token: its label, or its slot. */
  readonly name: string;

  constructor(
    private readonly o: TokenOptions,
    private readonly lastUser: () => boolean,
  ) {
    this.name = o.tokenLabel !== undefined ? `token "${o.tokenLabel}"` : `slot ${o.slot ?? 0}`;
  }

  /** Loads the module, finds the slot, opens the first session and logs in. */
  start(): void {
    this.lib = acquireModule(this.o.module);
    this.loaded = true;
    this.slot = this.findSlot();
    const session = this.openSession();
    this.login(session);
    this.idle.push(session);
  }

  private findSlot(): Handle {
    const slots = this.lib.C_GetSlotList(true);
    if (this.o.tokenLabel === undefined) {
      const slot = slots[this.o.slot ?? 0];
      if (!slot) throw new TokenError(`PKCS#11 slot ${this.o.slot ?? 0} has no token (the module ${this.o.module} shows ${slots.length} with a token)`);
      return slot;
    }
    const labels: string[] = [];
    for (const slot of slots) {
      const label = this.lib.C_GetTokenInfo(slot).label.trimEnd();
      if (label === this.o.tokenLabel) return slot;
      labels.push(JSON.stringify(label));
    }
    throw new TokenError(
      `no PKCS#11 token labelled "${this.o.tokenLabel}" (MDMGW_PKCS11_TOKEN_LABEL); the module ${this.o.module} has ${labels.length ? labels.join(', ') : 'no initialised token'}`,
    );
  }

  private openSession(): Handle {
    try {
      const s = this.lib.C_OpenSession(this.slot!, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      this.sessions++;
      this.all.add(s);
      return s;
    } catch (e) {
      throw this.explain(e, 'open a session');
    }
  }

  private login(session: Handle): void {
    try {
      this.lib.C_Login(session, pkcs11js.CKU_USER, this.o.pin);
    } catch (e) {
      const ckr = ckrOf(e);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
      if (ckr === 'CKR_PIN_INCORRECT') throw new TokenError(`the PKCS#11 ${this.name} refused the PIN (CKR_PIN_INCORRECT): check MDMGW_PKCS11_PIN or MDMGW_PKCS11_PIN_FILE`, ckr);
      if (ckr === 'CKR_PIN_LOCKED') throw new TokenError(`the user PIN of the PKCS#11 ${this.name} is locked (CKR_PIN_LOCKED): unlock it with the SO PIN`, ckr);
      throw this.explain(e, 'log in');
    }
  }

  /** A TokenError naming what was attempted and, for a lost token, what to check. */
  explain(e: unknown, what: string): TokenError {
    if (e instanceof TokenError) return e;
    const ckr = ckrOf(e);
    if (ckr && SESSION_LOST.has(ckr)) {
      return new TokenError(`the PKCS#11 ${this.name} is not available (${ckr}) while trying to ${what}: is the token present and the HSM reachable?`, ckr, { cause: e });
    }
    if (ckr === 'CKR_USER_NOT_LOGGED_IN') return new TokenError(`the PKCS#11 ${this.name} logged us out (CKR_USER_NOT_LOGGED_IN) while trying to ${what}`, ckr, { cause: e });
    return new TokenError(`PKCS#11 ${this.name}: cannot ${what}: ${(e as Error).message}`, ckr, { cause: e });
  }

  /**
   * Runs `fn` on a pooled session. When the session was lost (token removed,
   * HSM restarted) or the token logged us out, it is retried once on a fresh,
   * logged-in session; a second failure is a TokenError.
   */
  async withSession<T>(what: string, fn: (session: Handle) => T | Promise<T>): Promise<T> {
    let session = await this.acquire();
    try {
      this.ensureLogin(session);
      return await fn(session);
    } catch (e) {
      if (!this.recoverable(e)) throw this.explain(e, what);
      session = this.replace(session, what);
      try {
        return await fn(session);
      } catch (e2) {
        throw this.explain(e2, what);
      }
    } finally {
      this.release(session);
    }
  }

  /** The same for synchronous operations (RSA decryption inside the SCEP codec). */
  withSessionSync<T>(what: string, fn: (session: Handle) => T): T {
    let session = this.idle.pop() ?? this.openSession();
    try {
      this.ensureLogin(session);
      return fn(session);
    } catch (e) {
      if (!this.recoverable(e)) throw this.explain(e, what);
      session = this.replace(session, what);
      try {
        return fn(session);
      } catch (e2) {
        throw this.explain(e2, what);
      }
    } finally {
      this.release(session);
    }
  }

  /**
   * A token that logged us out (an HSM policy, another process's C_Logout)
   * hides private keys instead of failing: finding the key would then say it
   * does not exist. So the session state is checked before each operation.
   */
  private ensureLogin(session: Handle): void {
    const state = this.lib.C_GetSessionInfo(session).state;
    if (state !== CKS_RW_USER_FUNCTIONS && state !== CKS_RO_USER_FUNCTIONS) this.login(session);
  }

  private recoverable(e: unknown): boolean {
    const ckr = ckrOf(e);
    return ckr === 'CKR_USER_NOT_LOGGED_IN' || (ckr !== null && SESSION_LOST.has(ckr));
  }

  /** Drops a dead session and opens (and logs in) a new one. */
  private replace(session: Handle, what: string): Handle {
    this.drop(session);
    try {
      // A removed and re-inserted token gets a new slot id from some modules.
      this.slot = this.findSlot();
      const fresh = this.openSession();
      this.login(fresh);
      return fresh;
    } catch (e) {
      throw this.explain(e, what);
    }
  }

  private drop(session: Handle): void {
    this.all.delete(session);
    try {
      this.lib.C_CloseSession(session);
    } catch {
      // already gone with the token
    }
    this.sessions--;
  }

  private async acquire(): Promise<Handle> {
    const s = this.idle.pop();
    if (s) return s;
    if (this.sessions < SESSION_POOL_SIZE) return this.openSession();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(session: Handle): void {
    const next = this.waiting.shift();
    if (next) return next(session);
    if (this.sessions > SESSION_POOL_SIZE) return this.drop(session);
    this.idle.push(session);
  }

  /** For openToken's check that a second user of this token knows its PIN. */
  get pin(): string {
    return this.o.pin;
  }

  /** The PKCS#11 library object, for the key operations (token-key.ts). */
  get api(): pkcs11js.PKCS11 {
    return this.lib;
  }

  /** The mechanisms the token offers (to pick raw RSA decryption or its fallback). */
  mechanisms(): Set<number> {
    return new Set(this.lib.C_GetMechanismList(this.slot!));
  }

  /** Handle of the one object of `cls` labelled `label`; null when absent; an error when several are. */
  findObject(session: Handle, cls: number, label: string, id?: Buffer): Handle | null {
    const template: pkcs11js.Template = [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: label },
    ];
    if (id) template.push({ type: pkcs11js.CKA_ID, value: id });
    this.lib.C_FindObjectsInit(session, template);
    try {
      const found = this.lib.C_FindObjects(session, 2);
      if (found.length > 1) throw new TokenError(`the PKCS#11 ${this.name} holds several keys labelled "${label}"${id ? ` with CKA_ID ${id.toString('hex')}` : ''}: remove the extra ones`);
      return found[0] ?? null;
    } finally {
      this.lib.C_FindObjectsFinal(session);
    }
  }

  /** Releases this user's share; the last one logs out and finalises the module. */
  close(): void {
    if (!this.lastUser()) return;
    this.finalize();
  }

  /** Closes every session and unloads the module (also after a failed start). */
  finalize(): void {
    if (!this.loaded) return;
    // Only our own sessions: C_CloseAllSessions would end other tokens' sessions on this slot too.
    for (const s of [...this.all]) this.drop(s);
    releaseModule(this.o.module);
    this.loaded = false;
    this.idle = [];
    this.sessions = 0;
  }
}
