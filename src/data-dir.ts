import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';

// The data directory holds the CA and RA keys, the challenge-signing key, the
// admin token and the SQLite database (whose platform_state holds unspent
// Android challenges): any local user who can read it can enroll a
// certificate. So at every start the directory (and any directory in it) is
// made 0700 and every file in it 0600, whatever an older version, a restore
// or an operator's umask left behind; SQLite's -wal and -shm files included.
// A file we cannot keep private (another owner, a read-only file system)
// stops the start: running with a readable key is worse than not running.

export class DataDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirectoryError';
  }
}

export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Symbolic links are left alone (chmod would follow them out of the directory); the caller may log them. */
export interface SecuredDataDirectory {
  skippedLinks: string[];
}

/**
 * Creates `dir` if needed and makes it and everything in it private.
 * `extraFiles` are files outside it that hold the same secrets (an SQLite
 * database configured elsewhere and its -wal/-shm); missing ones are skipped.
 */
export async function secureDataDirectory(dir: string, extraFiles: readonly string[] = []): Promise<SecuredDataDirectory> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  const skippedLinks: string[] = [];
  await secureTree(path.resolve(dir), skippedLinks);
  for (const file of extraFiles) {
    const kind = await kindOf(file);
    if (kind === 'file') await makePrivate(file, PRIVATE_FILE_MODE);
    else if (kind === 'link') skippedLinks.push(file);
  }
  return { skippedLinks };
}

/** The SQLite database file and the companions SQLite creates next to it. */
export function sqliteFiles(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`, `${file}-journal`];
}

async function secureTree(dir: string, skippedLinks: string[]): Promise<void> {
  await makePrivate(dir, PRIVATE_DIRECTORY_MODE);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) skippedLinks.push(p);
    else if (entry.isDirectory()) await secureTree(p, skippedLinks);
    else await makePrivate(p, PRIVATE_FILE_MODE);
  }
}

async function kindOf(p: string): Promise<'file' | 'link' | 'other' | null> {
  try {
    const st = await lstat(p);
    return st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function makePrivate(p: string, mode: number): Promise<void> {
  let st;
  try {
    st = await lstat(p);
  } catch (e) {
    // Removed since it was listed (SQLite drops its -journal): nothing left to protect.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  // Even root could chmod another user's file, but that owner could widen it again.
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirectoryError(
      `${p} is owned by uid ${st.uid}, not by the user the gateway runs as (uid ${uid}): its permissions cannot be kept private; chown the data directory to the gateway's user`,
    );
  }
  if ((st.mode & 0o777) === mode) return;
  try {
    await chmod(p, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new DataDirectoryError(`cannot make ${p} mode ${mode.toString(8)} (${code}): the data directory must be private to the gateway's user`);
  }
}
