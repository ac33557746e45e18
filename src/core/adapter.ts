import type { RequestHandler, Router } from 'express';
import type { Logger } from '../log.js';
import type { Delivery } from './delivery.js';
import type { DeliveryState, Device, Platform } from './model.js';

// The adapter contract: the one door between a platform adapter and core.
// An adapter is handed a device's prepared deliveries (profile, resolved
// request, freshly minted challenge, chosen SCEP URL, trusted root) and turns
// each into its platform's payload; it mounts its own check-in routes and
// reports back what the device did. Adapters import from core only through
// this file and the model types, never from each other. See docs/adapters.md.

/** A delivery that is ready to render (the ok branch of core/delivery.ts). */
export type ReadyDelivery = Extract<Delivery, { ok: true }>;

export type { DeliveryState };

/** What a device said about one profile, recorded and shown in the admin API. */
export interface DeliveryReport {
  profileId: string;
  profileVersion: number;
  state: DeliveryState;
  /** SHA-1 thumbprint of the installed certificate (hex), when installed. */
  thumbprint?: string;
  /** The platform's own error code, when failed (e.g. Windows HRESULT, Apple ErrorChain code). */
  errorCode?: string;
  detail?: string;
}

/** Services core offers every adapter. */
export interface AdapterServices {
  log: Logger;
  /** Express middleware authenticating a device by its identity certificate; sets res.locals.device. */
  authenticateDevice: RequestHandler;
  /** Resolves the device's assigned profiles and mints one challenge per deliverable profile. */
  deliveriesFor(device: Device): Promise<Delivery[]>;
  /** Records a per-profile result; the admin API shows the latest per device and profile. */
  report(device: Device, report: DeliveryReport): Promise<void>;
  /** The gateway's public base URL (MDMGW_PUBLIC_URL). */
  publicUrl: string;
}

export interface PlatformAdapter<Payload = unknown> {
  /** Folder name and route prefix, e.g. 'windows' mounts under /windows when basePath is not given. */
  readonly name: string;
  /** Device platforms this adapter serves. */
  readonly platforms: readonly Platform[];
  /** Pure: one ready delivery to this platform's payload. Golden files test this. */
  render(device: Device, delivery: ReadyDelivery): Payload;
  /** Check-in and enrollment routes, mounted at the gateway root. */
  routes(services: AdapterServices): Router;
}
