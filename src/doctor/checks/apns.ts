import { daysLeft } from '../certificate-facts.js';
import type { Evidence } from '../evidence.js';
import { ok, problem, warning, type Finding } from '../finding.js';
import { VALIDITY_WARNING_DAYS } from './validity.js';

// Apple devices enroll only with an APNs MDM push certificate: its topic goes
// into the enrollment profile (reference/apple/mdm/profiles/com.apple.mdm.yaml,
// Topic) and every command is announced by a push signed with it.

const APPLE = ['apple'] as const;
const RENEW = 'renew it at identity.apple.com/pushcert (same Apple ID, renew rather than create, so the topic stays) and upload it: PUT /api/v1/apple/push-certificate';

export function checkApns(ev: Evidence): Finding[] {
  const a = ev.apns;
  if (a.state === 'not-checked') return [warning(`APNs push certificate not checked: ${a.why}`, a.fix, APPLE)];
  if (a.state === 'absent') {
    return [warning('no APNs push certificate: Apple devices cannot enroll', 'get one at identity.apple.com/pushcert and upload it: PUT /api/v1/apple/push-certificate', APPLE)];
  }
  const left = daysLeft(a.notAfter, ev.now);
  if (a.notAfter <= ev.now) return [problem(`APNs push certificate (${a.topic}) expired on ${a.notAfter.toISOString()}: Apple devices get no pushes`, RENEW, APPLE)];
  if (left < VALIDITY_WARNING_DAYS) return [warning(`APNs push certificate (${a.topic}) expires in ${left} days`, RENEW, APPLE)];
  return [ok(`APNs push certificate ${a.topic}, ${left} days left`, APPLE)];
}
