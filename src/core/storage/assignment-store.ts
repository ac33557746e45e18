import type { Assignment, AssignmentTarget } from '../model.js';
import type { CreatedPageQuery } from './storage.js';

// Assignments of profiles to users, devices and groups.
export interface AssignmentStore {
  createAssignment(profileId: string, target: AssignmentTarget): Promise<Assignment>; // not-found (also a deleted profile) / conflict (duplicate)
  listAssignments(filter?: { profileId?: string }): Promise<Assignment[]>;
  /** Assignments in list order (createdAt, id), after `after`, at most `limit`, of one profile when given: GET /assignments' pages. */
  listAssignmentsPage(q: CreatedPageQuery & { profileId?: string }): Promise<Assignment[]>;
  /** The assignment deleted (its target names the devices to re-plan), or null when there was none. */
  deleteAssignment(id: string): Promise<Assignment | null>;
  /** Assignments whose target is any of the given refs (the caller expands groups). */
  assignmentsFor(targets: AssignmentTarget[]): Promise<Assignment[]>;
  /**
   * Whether the profile is assigned to the device or to the user (either may
   * be null), directly or through a group either is in: the rule of
   * core/assignments.ts in one statement (the CRP's profileAssigned check).
   */
  isProfileAssigned(profileId: string, to: { deviceId: string | null; userId: string | null }): Promise<boolean>;
}
