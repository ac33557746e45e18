import { need, type Check } from './context.js';
import { stampOf } from './read-cache.js';

/**
 * The target device and/or user exist. For a user's certificate on a device,
 * that device's primary user must still be that user: a device that changed
 * hands does not get the previous owner's certificate.
 */
export const checkTargetExists: Check = {
  name: 'targetExists',
  summary: "the target device / user exists (and a user certificate's device still has that primary user)",
  refuses: ['TARGET_UNKNOWN', 'TARGET_PRIMARY_USER_CHANGED', 'USER_DISABLED'],
  async run(ctx) {
    const { target } = need(ctx.basis, this.name, 'what the request is for');
    const { storage } = ctx.deps;
    if (target.kind === 'device') {
      // A device's certificate: the device and its primary user may come from the read cache (read-cache.ts).
      const c = stampOf(ctx);
      const readDevice = () => storage.getDevice(target.deviceId);
      const device = await (c ? c.cache.device(c.stamp, target.deviceId, readDevice) : readDevice());
      if (!device) return { code: 'TARGET_UNKNOWN', detail: `device ${target.deviceId} does not exist` };
      ctx.targetDevice = device;
      const userId = device.userId;
      const readUser = () => storage.getUser(userId!);
      ctx.targetUser = userId ? await (c ? c.cache.primaryUser(c.stamp, device, readUser) : readUser()) : null;
      return null;
    }
    const user = await storage.getUser(target.userId);
    if (!user) return { code: 'TARGET_UNKNOWN', detail: `user ${target.userId} does not exist` };
    // A challenge minted before the user was disabled must not still bring a certificate.
    if (!user.enabled) return { code: 'USER_DISABLED', detail: `user ${user.id} disabled at ${user.disabledAt}` };
    ctx.targetUser = user;
    ctx.targetDevice = null;
    if (target.deviceId !== null) {
      const device = await storage.getDevice(target.deviceId);
      if (!device) return { code: 'TARGET_UNKNOWN', detail: `device ${target.deviceId} does not exist` };
      if (device.userId !== user.id) {
        return {
          code: 'TARGET_PRIMARY_USER_CHANGED',
          detail: `device ${device.id}`,
          expected: user.id,
          received: device.userId,
        };
      }
      ctx.targetDevice = device;
    }
    return null;
  },
};
