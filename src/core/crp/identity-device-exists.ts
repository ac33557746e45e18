import { identityRequestOf, type Check } from './context.js';

/**
 * The device an enrollment authenticated exists, read now: the caller's copy
 * may be stale (deleted, or blocked, since the caller read it). What the
 * request is for is that device's identity certificate: no profile, no user.
 *
 * A dry run made before the enrollment created its device (deviceId null, the
 * adapters' pre-token check) judges the device about to be made: it has no
 * record yet, so nothing device-related can refuse it and the CSR checks
 * decide. Issuance itself always names a stored device.
 */
export const checkIdentityDeviceExists: Check = {
  name: 'identityDeviceExists',
  summary: 'the device the enrollment authenticated exists, read now (a dry run before the device is made judges a new device)',
  refuses: ['TARGET_UNKNOWN'],
  async run(ctx) {
    const { deviceId } = identityRequestOf(ctx, this.name);
    if (deviceId === null) {
      if (!ctx.dryRun) throw new Error(`${this.name}: only a dry run may judge a device that does not exist yet`);
      ctx.basis = { kind: 'identity', profileId: null, profileVersion: null, target: { kind: 'device', deviceId: DEVICE_TO_BE_MADE } };
      ctx.targetDevice = null;
      ctx.targetUser = null;
      return null;
    }
    const device = await ctx.deps.storage.getDevice(deviceId);
    if (!device) return { code: 'TARGET_UNKNOWN', detail: `device ${deviceId} does not exist` };
    ctx.basis = { kind: 'identity', profileId: null, profileVersion: null, target: { kind: 'device', deviceId: device.id } };
    ctx.targetDevice = device;
    ctx.targetUser = null;
    return null;
  },
};

/** The stand-in id a dry run resolves a not-yet-made device's request with; never issued to. */
export const DEVICE_TO_BE_MADE = '(the device the enrollment will make)';
