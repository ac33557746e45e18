import type { Profile } from '../../core/model.js';
import { renewalDue } from '../../core/renewal.js';
import type { InstalledCertificate } from './state.js';
import type { PolicyAction } from './render.js';

// Whether a certificate policy needs the agent to enroll: no certificate
// installed for the current profile version, or the installed one has less
// than renewalThresholdPercent of its lifetime left (core/renewal.ts). The lifetime is the
// issued certificate's when we have it (checkin.ts fills it in from
// issued-certificates.ts), else what the agent's report gave.

export function policyAction(profile: Pick<Profile, 'version' | 'renewalThresholdPercent'>, installed: InstalledCertificate | undefined, now: Date): PolicyAction {
  if (!installed || installed.profileVersion !== profile.version) return 'enroll';
  return renewalDue(installed, profile.renewalThresholdPercent, now) ? 'renew' : 'keep';
}
