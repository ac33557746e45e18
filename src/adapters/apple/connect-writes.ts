import type { AdapterServices, CommandExchangeWrites, DeliveryReport } from '../../core/adapter.js';
import { DeviceBusyError } from '../../core/device-lock.js';
import type { Device, DeviceCommand } from '../../core/model.js';
import { uuidv7 } from '../../core/command-id.js';
import type { AppleState } from './state.js';

// What one connect writes about its commands, gathered and written at the end
// in one transaction (AdapterServices.commands.exchange, issue 13): the answer
// to the command the device was sent, the profile records in the device state,
// the delivery reports and their audit records, the next command marked sent
// with its `apple.command.sent` record. Before, each went through its own
// service: 4-6 commits per connect, and a failure half-way left some written.
// Nothing is written until commit(); a failure writes none of it. The
// check-ins that plan (TokenUpdate, Idle: sync.ts) gather their writes here
// too, so a TokenUpdate is one commit and an Idle one with the command it sends.

export class ConnectWrites {
  #x: { -readonly [K in keyof CommandExchangeWrites]: NonNullable<CommandExchangeWrites[K]> } = {};
  #state: AppleState | null = null;
  /** The state as the last commit() wrote it (this connect holds the device lock: it is what storage has). */
  #written: AppleState | null = null;

  constructor(
    private readonly s: AdapterServices,
    private readonly device: Device,
  ) {}

  /** The device state as this connect changed it (read it back before loading the stored one). */
  get state(): AppleState | null {
    return this.#state ?? this.#written;
  }

  answer(id: string, status: NonNullable<CommandExchangeWrites['answer']>['status'], result: Record<string, unknown> | null): void {
    this.#x.answer = { id, status, result };
  }

  /** The commands this connect answered or cancelled: still sent/queued in storage until commit(). */
  get settled(): string[] {
    return [...(this.#x.answer ? [this.#x.answer.id] : []), ...(this.#x.cancel ?? []).map((c) => c.id)];
  }

  cancel(id: string, reason: string): void {
    this.#x.cancel = [...(this.#x.cancel ?? []), { id, result: { reason } }];
  }

  /** Queues a command with the commit; returns its id (named now, so the state can record it in the same transaction). */
  enqueue(c: Omit<NonNullable<CommandExchangeWrites['enqueue']>[number], 'id'>): string {
    const id = uuidv7();
    this.#x.enqueue = [...(this.#x.enqueue ?? []), { ...c, id }];
    return id;
  }

  /** Whether follow-up commands wait to be written (the next command is read from storage: commit them first). */
  get enqueued(): boolean {
    return (this.#x.enqueue?.length ?? 0) > 0;
  }

  send(cmd: DeviceCommand): void {
    this.#x.send = { id: cmd.id, status: cmd.status };
  }

  saveState(state: AppleState): void {
    this.#state = state;
  }

  report(...reports: DeliveryReport[]): void {
    this.#x.reports = [...(this.#x.reports ?? []), ...reports];
  }

  audit(type: string, details: Record<string, unknown>): void {
    this.#x.audit = [...(this.#x.audit ?? []), { type, details }];
  }

  /**
   * Writes what was gathered (nothing when nothing was), then starts empty
   * again. The command to send taken or answered meanwhile (it was read
   * without the write lock): nothing is written, DeviceBusyError (503 with
   * Retry-After; the device sends its message again).
   */
  async commit(): Promise<void> {
    const x = { ...this.#x, ...(this.#state && { state: this.#state as unknown as Record<string, unknown> }) };
    const state = this.#state;
    this.#x = {};
    this.#state = null;
    if (Object.keys(x).length === 0) return;
    if (!(await this.s.commands.exchange(this.device, x))) throw new DeviceBusyError(this.device.id);
    if (state) this.#written = state;
  }
}
