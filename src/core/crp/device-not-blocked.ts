import type { Device } from '../model.js';
import type { Refusal } from '../reasons.js';
import { need, type Check } from './context.js';

/**
 * The device the certificate is for is not blocked by an administrator. A
 * user's certificate on a blocked device is refused too; a user certificate
 * bound to no device has no device to be blocked. (The issuing transaction
 * checks again, so a block that lands after this check still wins.)
 */
export const checkDeviceNotBlocked: Check = {
  name: 'deviceNotBlocked',
  summary: 'the device the certificate is for (the target device, or the device a user certificate is bound to) is not blocked',
  refuses: ['DEVICE_BLOCKED'],
  async run(ctx) {
    return deviceBlockedRefusal(need(ctx.targetDevice, this.name, 'the target device'));
  },
};

function deviceBlockedRefusal(device: Device | null): Refusal | null {
  // A retired device gets nothing either (its certificates were revoked with the retirement).
  if (device?.retiredAt) return { code: 'DEVICE_BLOCKED', detail: `device ${device.id} retired at ${device.retiredAt}` };
  // A retiring device only receives the removal of its profiles (core/retirement.ts).
  if (device?.retiringSince) return { code: 'DEVICE_BLOCKED', detail: `device ${device.id} retiring since ${device.retiringSince}` };
  if (!device || device.blockedAt === null) return null;
  return { code: 'DEVICE_BLOCKED', detail: `device ${device.id} blocked at ${device.blockedAt}` };
}
