// The plan generations (core/plan-generation.ts; migration 0018): one global
// value (the setting PLAN_GENERATION_SETTING), changed by writes that can
// change many devices' plans, and one per device (devices.plan_generation),
// changed by writes that change only that device's plan. A check-in keys its
// cached answer by both, read together in one query.

/** The setting holding the global plan generation (a random value). */
export const PLAN_GENERATION_SETTING = 'core.plan-generation';

export interface PlanGenerations {
  /** The global generation; null before the first global bump. */
  global: string | null;
  /** The device's own generation; null when there is no such device. */
  device: number | null;
}

export interface PlanGenerationStore {
  /** Both generations for the device, in one read (every cached check-in asks). */
  getPlanGenerations(deviceId: string): Promise<PlanGenerations>;
  /** Advances the generation of each device given (unknown ids are ignored); one statement. */
  bumpDevicePlanGenerations(deviceIds: readonly string[]): Promise<void>;
  /** Advances the generation of every device whose primary user this is (a change to the user). */
  bumpUserPlanGenerations(userId: string): Promise<void>;
}
