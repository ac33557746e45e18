import type { Profile, ProfileSpec } from '../model.js';
import type { CreatedPageQuery } from './storage.js';

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
  /** Current versions, not deleted, in list order (createdAt, id), after `after`, at most `limit`: GET /profiles' pages. */
  listProfilesPage(q: CreatedPageQuery): Promise<Profile[]>;
  /** Current versions of the given profiles in one read, in the order of `ids`; missing or deleted ones left out, repeats once. */
  getProfiles(ids: readonly string[]): Promise<Profile[]>;
  /** Soft delete: old versions stay readable for audit; assignments are removed. False when missing or already deleted. */
  deleteProfile(id: string): Promise<boolean>;
}
