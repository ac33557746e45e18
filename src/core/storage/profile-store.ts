import type { Profile, ProfileSpec } from '../model.js';

// Profiles, versioned: every update is a new immutable version. deleteProfile
// also removes the profile's assignments in the same transaction (an assignment
// of a deleted profile would be delivered nowhere).
export interface ProfileStore {
  createProfile(spec: ProfileSpec): Promise<Profile>; // version 1
  updateProfile(id: string, spec: ProfileSpec): Promise<Profile | null>; // version + 1; null when missing or deleted
  /**
   * Without `version`: the current version; null when missing or deleted.
   * With `version`: that version, also after the profile was deleted (audit and
   * pending enrollments refer to it); null when no such version exists.
   * `updatedAt` is when the returned version was written.
   */
  getProfile(id: string, version?: number): Promise<Profile | null>;
  listProfiles(): Promise<Profile[]>; // current versions, not deleted
  /** Current versions of these profiles, in the order given, each once; missing and deleted ones left out. One query (a check-in's plan: issue 13). */
  getCurrentProfiles(ids: readonly string[]): Promise<Profile[]>;
  /** Soft delete: old versions stay readable for audit; assignments are removed. False when missing or already deleted. */
  deleteProfile(id: string): Promise<boolean>;
}
