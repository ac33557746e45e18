// The older in-process benches (gateway and client share this process, so
// their CPU includes the client's): OCSP responses, CA issuance, and PKCS#11
// signing and decryption in SoftHSM (skipped without it).
// `npm run bench -- --in-process`.
import { startTestGateway } from '../test/helpers/gateway.js';
import { issuanceBenchmark } from './issuance.js';
import { ocspBenchmark } from './ocsp.js';
import { pkcs11Benchmark } from './pkcs11.js';

export async function inProcessBenches() {
  const t = await startTestGateway();
  try {
    const device = await t.api.ok('POST', '/devices', { name: 'bench-device', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'bench', scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    return { ocsp: await ocspBenchmark(t, profile.id, device.id), issuance: await issuanceBenchmark(), pkcs11: await pkcs11Benchmark() };
  } finally {
    await t.stop();
  }
}
