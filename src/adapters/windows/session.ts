import { createHash } from 'node:crypto';
import type { AdapterServices, DeliveryReport, ReadyDelivery } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import { statusesFor } from './command-status.js';
import { SWV, formForOsVersion, mergeNodes } from './devinfo.js';
import { formatHresult, hresultMeaning } from './error-codes.js';
import { ESTIMATE_DETAIL, installedValidity, renewalDue } from './renewal.js';
import { reissueAfterRevocation } from '../../core/renewal.js';
import { type CspCommand, removal, renderWindows, rootCommands, scepNodeFor, statusQueries, windowsProblem } from './render.js';
import { issuedByRetiredCa, rolloverReissueDue } from '../../core/ca-rollover.js';
import { type SentTag, type SessionState, type TrackedProfile, type WindowsState, readWindowsState, writeWindowsState } from './state.js';
import { buildMessage } from './syncml-build.js';
import { memoKey, planMemoFor, quietUntil } from './plan-memo.js';
import type { CheckinCache } from '../../core/checkin-cache.js';
import type { PlanGenerations } from '../../core/storage/plan-generation-store.js';
import type { ClientCommand, SyncMLMessage } from './syncml-message.js';

// One OMA-DM message from an authenticated device, answered (MS-MDM over SyncML 1.2):
// 1. session bookkeeping: a new SessionID (or MsgID 1) starts a session; MsgIDs
//    must increase; our MsgIDs count from 1 per session (oma-dm-protocol-support.md);
// 2. Status for the SyncHdr (212 on the first message of the session: the
//    device authenticated with its identity certificate; 200 afterwards) and for
//    every client command (command-status.ts);
// 3. what the device told us: DevInfo/DevDetail values (Replace, Results of our
//    Get ./DevDetail/SwV), Status and Results for our commands, matched by
//    MsgRef/CmdRef to what we sent;
// 4. result tracking: the ClientCertificateInstall CSP answers Exec with 200
//    before it enrolls, so in a later session we Get Status, ErrorCode and
//    CertThumbprint and report pending / enrolling / installed / failed;
// 5. what to send next: status queries, installs of profiles that are new, at a
//    new version or inside the renewal threshold (timed from the issued
//    certificate, renewal.ts), and Delete for profiles that are no longer
//    assigned. Nothing left to send: Status only + Final ends the session.

export interface SessionReply {
  xml: string;
  /** True when this reply carries no commands (the session ends). */
  done: boolean;
}

const keyOf = (msgId: number | string, cmdId: number | string) => `${msgId}:${cmdId}`;

function newSession(id: string, msgId: number, now: Date): SessionState {
  return { id, clientMsgId: msgId, serverMsgId: 0, startedAt: now.toISOString(), sent: {}, installed: [], queried: [], deleted: [], answers: {}, itemStatuses: {} };
}

/** The Generic alert (1226) type Windows sends when the user unenrolls the device (oma-dm-protocol-support.md). */
export const UNENROLL_ALERT_TYPE = 'com.microsoft:mdm.unenrollment.userrequest';

// Kept importable from here: renewal timing used to live in this module.
export { renewalDue };

/** Device-supplied values kept in the session state are bounded (issue #15): a query answer, item statuses per profile. */
const MAX_ANSWER = 512;
const MAX_ITEM_STATUSES = 64;

/**
 * `current`: the device's state as the caller just read it under the device lock (else it is read here);
 * `save`: how the changed state is written (the route's compare-and-set writer; else state.put).
 */
export async function handleMessage(
  services: AdapterServices,
  device: Device,
  msg: SyncMLMessage,
  now: Date,
  current?: WindowsState,
  save: (state: WindowsState, reports?: readonly DeliveryReport[]) => Promise<unknown> = async (st, reports = []) => {
    await services.reportAll(device, reports);
    await writeWindowsState(services, device.id, st);
  },
  /** The device's plan generations as read with its identity (the route's res.locals), so the plan memo reads none. */
  generations?: PlanGenerations,
): Promise<SessionReply> {
  // The message's delivery reports are collected and written together with its state (the route's save:
  // one transaction, compare-and-set; a delivering message has up to one per profile: issue 13).
  const reports: DeliveryReport[] = [];
  const s: AdapterServices = { ...services, report: async (_device, r) => void reports.push(r) };
  const state = current ?? (await readWindowsState(s, device.id));
  const profiles = (state.profiles ??= {});
  state.nodes ??= {};
  const { hdr } = msg;
  const source = `${s.publicUrl}/ManagementServer/MDM.svc`;

  const isNew = !state.session || state.session.id !== hdr.sessionId || hdr.msgId === 1;
  if (!isNew && hdr.msgId <= state.session!.clientMsgId) {
    // A repeated or out-of-order MsgID: refuse the message, keep the session.
    const session = state.session!;
    session.serverMsgId += 1;
    await save(state);
    const { xml } = buildMessage({
      sessionId: hdr.sessionId,
      msgId: session.serverMsgId,
      target: hdr.source,
      source,
      statuses: [{ msgRef: String(hdr.msgId), cmdRef: '0', cmd: 'SyncHdr', code: 400, targetRef: hdr.target, sourceRef: hdr.source }],
      commands: [],
    });
    return { xml, done: true };
  }
  const session = isNew ? newSession(hdr.sessionId, hdr.msgId, now) : state.session!;
  state.session = session;
  session.clientMsgId = hdr.msgId;
  session.serverMsgId += 1;
  const serverMsgId = session.serverMsgId;

  const statuses = [
    { msgRef: String(hdr.msgId), cmdRef: '0', cmd: 'SyncHdr', code: isNew ? 212 : 200, targetRef: hdr.target, sourceRef: hdr.source },
    ...statusesFor(hdr.msgId, msg.commands),
  ];
  if (hdr.source) state.nodes['./DevInfo/DevId'] ??= hdr.source.slice(0, 512);

  let aborted = false;
  let unenrolling = false;
  const touched = new Set<string>();
  const failedInstalls = new Set<string>();
  for (const c of msg.commands) {
    if (c.cmdId === undefined && c.name !== 'Status') continue;
    switch (c.name) {
      case 'Alert':
        if (c.data === '1223') aborted = true;
        if (c.data === '1226' && c.items.some((i) => i.metaType === UNENROLL_ALERT_TYPE)) unenrolling = true;
        if (c.data === '1224') {
          const login = c.items.find((i) => i.metaType === 'com.microsoft/MDM/LoginStatus');
          if (login?.data) session.loginStatus = login.data.slice(0, 64).toLowerCase();
        }
        break;
      case 'Replace':
        for (const i of c.items) mergeNodes(state.nodes, i.source ?? i.target, i.data);
        break;
      case 'Results':
        onResults(session, state, c, touched);
        break;
      case 'Status':
        await onStatus(s, device, session, state, c, touched, failedInstalls);
        break;
    }
  }
  if (state.nodes[SWV]) state.osVersion = state.nodes[SWV];

  // Atomic installs that failed: decide retry (node existed / was missing) or failure.
  for (const profileId of failedInstalls) {
    const t = profiles[profileId];
    if (!t) continue;
    const items = session.itemStatuses[profileId] ?? [];
    const addExists = items.some((i) => i.cmd === 'Add' && i.target === t.scepNode && i.code === 418);
    const replaceMissing = items.some((i) => i.cmd === 'Replace' && i.code === 404);
    if (addExists || replaceMissing) {
      t.nodeExists = addExists;
      t.phase = 'retry';
      continue;
    }
    const worst = items.find((i) => i.code >= 300 && i.code !== 216);
    t.phase = 'failed';
    t.errorCode = `SyncML ${worst?.code ?? 507}`;
    await s.report(device, {
      profileId,
      profileVersion: t.version,
      state: 'failed',
      errorCode: t.errorCode,
      detail: worst ? `the device refused ${worst.cmd} ${worst.target} with status ${worst.code}` : 'the device refused the Atomic install',
    });
  }

  for (const profileId of touched) await evaluateAnswers(s, device, session, profiles, profileId, now);

  // The device is leaving: its certificates are revoked and nothing more is sent (docs/lifecycle.md).
  if (unenrolling) {
    // What the message reported so far is recorded before the device's certificates are revoked.
    await services.reportAll(device, reports.splice(0));
    await s.unenrolled(device, `Windows Generic alert 1226 ${UNENROLL_ALERT_TYPE}`);
  }

  const commands: CspCommand[] = [];
  const tags = new Map<CspCommand, SentTag>();
  if (!aborted && !unenrolling) await plan(s, device, state, session, commands, tags, now, { memo: planMemoFor(services), reported: () => reports.length, ...(generations && { generations }) });

  const { xml, emitted } = buildMessage({ sessionId: hdr.sessionId, msgId: serverMsgId, target: hdr.source, source, statuses, commands });
  for (const e of emitted) {
    const tag = tags.get(e.command);
    if (tag) session.sent[keyOf(serverMsgId, e.cmdId)] = tag;
    else if (e.parent && e.command.cmd !== 'Atomic') {
      const parentTag = tags.get(e.parent);
      if (parentTag?.kind === 'install') session.sent[keyOf(serverMsgId, e.cmdId)] = { kind: 'install-item', profileId: parentTag.profileId, cmd: e.command.cmd, target: e.command.target };
    }
  }
  if (aborted) delete state.session;
  await save(state, reports);
  return { xml, done: commands.length === 0 };
}

function onResults(session: SessionState, state: WindowsState, c: ClientCommand, touched: Set<string>): void {
  const tag = c.msgRef && c.cmdRef ? session.sent[keyOf(c.msgRef, c.cmdRef)] : undefined;
  if (!tag) return;
  const data = (c.items[0]?.data ?? '').slice(0, MAX_ANSWER);
  if (tag.kind === 'query') {
    (session.answers[tag.profileId] ??= {})[tag.node] = { data };
    touched.add(tag.profileId);
  } else if (tag.kind === 'devdetail') {
    mergeNodes(state.nodes!, c.items[0]?.source ?? tag.target, data);
  }
}

async function onStatus(
  s: AdapterServices,
  device: Device,
  session: SessionState,
  state: WindowsState,
  c: ClientCommand,
  touched: Set<string>,
  failedInstalls: Set<string>,
): Promise<void> {
  const tag = c.msgRef && c.cmdRef ? session.sent[keyOf(c.msgRef, c.cmdRef)] : undefined;
  const code = Number(c.data);
  if (!tag || !Number.isInteger(code)) return;
  const profiles = state.profiles!;
  switch (tag.kind) {
    case 'install': {
      const t = profiles[tag.profileId];
      if (!t) return;
      if (code === 200) {
        // Exec accepted: the device enrolls in the background; Status tells later.
        t.phase = 'enrolling';
        t.nodeExists = true;
        await s.report(device, { profileId: tag.profileId, profileVersion: t.version, state: 'enrolling', detail: 'Exec Enroll accepted; waiting for the device to report Status' });
      } else failedInstalls.add(tag.profileId);
      return;
    }
    case 'install-item': {
      // One entry per item: a device repeating Status for the same item cannot grow the session state.
      const items = (session.itemStatuses[tag.profileId] ??= []);
      const same = items.find((i) => i.cmd === tag.cmd && i.target === tag.target);
      if (same) same.code = code;
      else if (items.length < MAX_ITEM_STATUSES) items.push({ cmd: tag.cmd, target: tag.target, code });
      return;
    }
    case 'query':
      if (code !== 200) {
        (session.answers[tag.profileId] ??= {})[tag.node] = { status: code };
        touched.add(tag.profileId);
      }
      return;
    case 'trust':
      // 418: already there. Either way the device now holds the current root.
      if (code === 200 || code === 418) state.rootsHeld = tag.caId;
      return;
    case 'delete': {
      if (!tag.profileId) return;
      const t = profiles[tag.profileId];
      if (!t) return;
      if (code === 200 || code === 404) {
        delete profiles[tag.profileId];
        await s.report(device, { profileId: tag.profileId, profileVersion: t.version, state: 'removed', detail: code === 404 ? 'the SCEP node was already gone' : 'Delete of the SCEP node accepted' });
      }
      return;
    }
    default:
      return;
  }
}

async function evaluateAnswers(s: AdapterServices, device: Device, session: SessionState, profiles: Record<string, TrackedProfile>, profileId: string, now: Date): Promise<void> {
  const t = profiles[profileId];
  const a = session.answers[profileId];
  if (!t || !a?.Status || t.phase !== 'enrolling') return;
  if (a.Status.status !== undefined) {
    // The SCEP node is gone (e.g. the device was reset or an admin removed it): install again.
    t.phase = 'retry';
    t.nodeExists = a.Status.status !== 404;
    return;
  }
  const status = Number(a.Status.data);
  const thumbprint = a.CertThumbprint?.data?.trim();
  if (status === 1 && thumbprint && /^[0-9A-Fa-f]{40}$/.test(thumbprint)) {
    t.phase = 'installed';
    t.thumbprint = thumbprint.toUpperCase();
    t.installedAt = now.toISOString();
    t.validity = await installedValidity(s, device, profileId, t.thumbprint, t.installedAt, t.validityDays);
    delete t.errorCode;
    await s.report(device, {
      profileId,
      profileVersion: t.version,
      state: 'installed',
      thumbprint: t.thumbprint,
      ...(t.validity.source === 'estimate' && { detail: ESTIMATE_DETAIL }),
    });
  } else if (status === 1) {
    // "CertThumbprint ... empty if it became invalid": enroll again.
    t.phase = 'retry';
  } else if (status === 2) {
    await s.report(device, { profileId, profileVersion: t.version, state: 'enrolling', detail: 'the SCEP server answered PENDING; the device retries (Status 2)' });
  } else if (status === 16) {
    const code = formatHresult(a.ErrorCode?.data) ?? 'unknown';
    t.phase = 'failed';
    t.errorCode = code;
    const meaning = hresultMeaning(code);
    await s.report(device, { profileId, profileVersion: t.version, state: 'failed', errorCode: code, detail: `the device reports Status 16 (failed)${meaning ? `: ${meaning}` : ''}` });
  }
  // 32 (unknown) or anything else: still enrolling; ask again next session.
}

async function plan(
  s: AdapterServices,
  device: Device,
  state: WindowsState,
  session: SessionState,
  commands: CspCommand[],
  tags: Map<CspCommand, SentTag>,
  now: Date,
  kept: { memo: CheckinCache<true>; reported: () => number; generations?: PlanGenerations },
): Promise<void> {
  const push = (c: CspCommand, tag?: SentTag) => {
    commands.push(c);
    if (tag) tags.set(c, tag);
  };
  // OS version: asked once per session (it picks the rendering form).
  if (!session.askedSwV) {
    session.askedSwV = true;
    push({ cmd: 'Get', target: SWV }, { kind: 'devdetail', target: SWV });
    if (!state.osVersion) return; // decide what to install once we know the OS version
  }
  // Core's inputs (assignments, profiles, the user, the device's certificates) are read by the
  // first message of a session that plans; a later message of the same session plans again only
  // when something the plan reads from this state changed since (an answer, a status, the OS
  // version): the closing message of a session with nothing to do reads nothing (issue 13). An
  // admin change made during a session is seen by the device's next session.
  const key = planKey(state, session);
  if (session.plannedKey !== undefined && session.plannedKey === key) return;
  // An earlier session's plan found nothing to do from the same inputs (plan-memo.ts): no reads.
  const memo = memoKey(await s.planGeneration(device.id, kept.generations), key);
  if (kept.memo.get(device.id, memo, now)) {
    session.plannedKey = key;
    return;
  }
  const before = { commands: commands.length, reports: kept.reported() };
  await planDeliveries(s, device, state, session, push, now);
  session.plannedKey = planKey(state, session);
  // Nothing sent, reported or changed in the state: the next session with the same inputs need not plan.
  if (commands.length === before.commands && kept.reported() === before.reports && session.plannedKey === key) {
    kept.memo.set(device.id, memo, true, now, quietUntil(state));
  }
}

/**
 * What a plan reads from the adapter's own state, hashed: the tracked profiles,
 * the OS version (form), undeliverable marks, the roots the device holds, and
 * this session's login status, queries, answers, installs and deletes.
 * A profile installed in this session counts by its id only: the plan skips it
 * for the rest of the session whatever its phase (no query, no second install;
 * a removal or rollover concerns installed profiles of earlier sessions), so
 * the device's statuses for its Atomic (sent -> enrolling, failed, retry) do
 * not make the next message read and resolve every assignment again (issue 13).
 */
export function planKey(state: WindowsState, session: SessionState): string {
  const inputs = [state.osVersion ?? null, profilesKey(state.profiles ?? {}, session.installed), state.undeliverable ?? {}, state.rootsHeld ?? null, session.loginStatus ?? null, session.queried, session.answers, session.installed, session.deleted, session.rootsSent ?? false];
  return createHash('sha256').update(JSON.stringify(inputs)).digest('base64');
}

/** The tracked profiles as planKey reads them: those installed in this session by id only. */
function profilesKey(profiles: Record<string, TrackedProfile>, installedThisSession: readonly string[]): Record<string, TrackedProfile | 'installed this session'> {
  if (installedThisSession.length === 0) return profiles;
  const out: Record<string, TrackedProfile | 'installed this session'> = {};
  for (const [id, t] of Object.entries(profiles)) out[id] = installedThisSession.includes(id) ? 'installed this session' : t;
  return out;
}

async function planDeliveries(
  s: AdapterServices,
  device: Device,
  state: WindowsState,
  session: SessionState,
  push: (c: CspCommand, tag?: SentTag) => void,
  now: Date,
): Promise<void> {
  const profiles = state.profiles!;
  // Result tracking: Status/ErrorCode/CertThumbprint of installs from earlier sessions.
  const awaiting = new Set<string>();
  for (const [profileId, t] of Object.entries(profiles)) {
    if (t.phase !== 'enrolling' || t.sentSession === session.id || session.queried.includes(profileId)) continue;
    session.queried.push(profileId);
    awaiting.add(profileId);
    for (const q of statusQueries(t.scepNode)) push(q.cmd, { kind: 'query', profileId, node: q.node });
  }
  for (const profileId of session.queried) if (!session.answers[profileId]?.Status) awaiting.add(profileId);

  const deliveries = await s.deliveriesFor(device);
  const assigned = new Set(deliveries.map((d) => d.profile.id));
  const form = formForOsVersion(state.osVersion);
  const undeliverable = (state.undeliverable ??= {});
  await sendRootsAfterRollover(s, device, state, session, form, push);

  // The device's issued certificates, read once and only when an installed profile needs them.
  let issued: Awaited<ReturnType<AdapterServices['certificates']['list']>> | undefined;
  const issuedFor = async () => (issued ??= await s.certificates.list({ deviceId: device.id }));

  for (const d of deliveries) {
    const profileId = d.profile.id;
    if (awaiting.has(profileId) || session.installed.includes(profileId)) continue;
    if (!d.ok) {
      const mark = `${d.profile.version}:${d.error.code}`;
      if (undeliverable[profileId] !== mark) {
        undeliverable[profileId] = mark;
        await s.report(device, { profileId, profileVersion: d.profile.version, state: 'failed', errorCode: d.error.code, detail: d.error.message });
      }
      continue;
    }
    const problem = windowsProblem(d);
    if (problem) {
      const mark = `${d.profile.version}:UNSUPPORTED`;
      if (undeliverable[profileId] !== mark) {
        undeliverable[profileId] = mark;
        await s.report(device, { profileId, profileVersion: d.profile.version, state: 'failed', errorCode: 'PROFILE_UNSUPPORTED_ON_WINDOWS', detail: problem });
      }
      continue;
    }
    delete undeliverable[profileId];
    const t = profiles[profileId];
    if (t?.phase === 'installed' && !t.validity && t.thumbprint && t.installedAt) {
      // Installed before the validity was recorded: look it up once, so renewal uses the real notAfter.
      t.validity = await installedValidity(s, device, profileId, t.thumbprint, t.installedAt, t.validityDays);
    }
    const lostInFlight = t?.phase === 'sent' && t.sentSession !== session.id; // the session ended before the device answered the Atomic
    // Re-assigned while its Delete is unacknowledged: install again like a retry (nodeExists kept: Replace, 404 falls back to Add).
    const revoked = t?.phase === 'installed' && t.thumbprint !== undefined && reissueAfterRevocation(await issuedFor(), profileId, t.thumbprint);
    const rollover = t?.phase === 'installed' && rolloverReissueDue({ issuerId: t.validity?.issuerId ?? null }, s.currentCaId, state.rootsHeld, s.activeCaIds);
    const due = !t || t.phase === 'retry' || t.phase === 'removing' || lostInFlight || t.version !== d.profile.version || renewalDue(t, now) || revoked || rollover;
    if (!due || (t?.phase === 'enrolling' && t.version === d.profile.version)) continue;
    // User-scoped nodes need the enrolled user signed in (1224 LoginStatus "user").
    if (d.profile.scope === 'user' && session.loginStatus && session.loginStatus !== 'user') continue;
    install(device, d, t, form, session, profiles, push, now);
    await s.report(device, {
      profileId,
      profileVersion: d.profile.version,
      state: 'pending',
      detail: revoked
        ? 'the installed certificate was revoked: enrolling a new one'
        : rollover
          ? 'renewal: re-issue under the current CA (CA rollover; the device holds its root)'
          : t && t.phase === 'installed' && t.version === d.profile.version
            ? 'renewal: inside the renewal threshold'
            : 'sent to the device',
    });
  }

  // Removal: profiles we installed that are no longer assigned.
  for (const [profileId, t] of Object.entries(profiles)) {
    if (assigned.has(profileId) || session.deleted.includes(profileId)) continue;
    session.deleted.push(profileId);
    t.phase = 'removing';
    push(removal(t.scepNode), { kind: 'delete', profileId, target: t.scepNode });
  }
}

function install(
  device: Device,
  d: ReadyDelivery,
  t: TrackedProfile | undefined,
  form: 'modern' | 'legacy',
  session: SessionState,
  profiles: Record<string, TrackedProfile>,
  push: (c: CspCommand, tag?: SentTag) => void,
  now: Date,
): void {
  const profileId = d.profile.id;
  const node = scepNodeFor(profileId, d.profile.scope, form);
  if (t && t.scepNode !== node && t.nodeExists) {
    // Scope or OS form changed: the old node is elsewhere; remove it, start fresh.
    push(removal(t.scepNode), { kind: 'delete', profileId: null, target: t.scepNode });
  }
  const nodeExists = !!t && t.scepNode === node && t.nodeExists;
  const payload = renderWindows(device, d, { form, mode: nodeExists ? 'replace' : 'add' });
  const atomic = payload.commands.at(-1)!;
  for (const root of payload.commands.slice(0, -1)) push(root, { kind: 'root', profileId });
  push(atomic, { kind: 'install', profileId });
  session.installed.push(profileId);
  profiles[profileId] = {
    uniqueId: payload.uniqueId,
    version: d.profile.version,
    scope: d.profile.scope,
    form,
    scepNode: node,
    phase: 'sent',
    nodeExists,
    sentSession: session.id,
    sentAt: now.toISOString(),
    validityDays: d.resolved.validityDays,
    renewalThresholdPercent: d.profile.renewalThresholdPercent,
    ...(t?.thumbprint && { thumbprint: t.thumbprint }),
    ...(t?.installedAt && { installedAt: t.installedAt }),
    // The old certificate stays on the device until the new one is installed.
    ...(t?.validity && { validity: t.validity }),
  };
}

/**
 * After a CA rollover (core/ca-rollover.ts): a device holding a certificate of
 * a retired CA first gets every root in use, alone; the Status of the current
 * root's Add (200, or 418 when it is there already) sets state.rootsHeld, and
 * only then (the next message, or a later session) is the certificate re-issued.
 */
async function sendRootsAfterRollover(
  s: AdapterServices,
  device: Device,
  state: WindowsState,
  session: SessionState,
  form: 'modern' | 'legacy',
  push: (c: CspCommand, tag?: SentTag) => void,
): Promise<void> {
  if (state.rootsHeld === s.currentCaId || session.rootsSent) return;
  let retired = false;
  for (const t of Object.values(state.profiles ?? {})) {
    if (t.phase !== 'installed' || !t.thumbprint) continue;
    if (t.validity?.source === 'issued' && t.validity.issuerId === undefined) {
      // Recorded before issuers were: look it up once.
      const cert = await s.certificates.byThumbprint(t.thumbprint);
      if (cert && cert.deviceId === device.id) t.validity.issuerId = cert.issuerId;
    }
    retired ||= issuedByRetiredCa({ issuerId: t.validity?.issuerId ?? null }, s.currentCaId, s.activeCaIds);
  }
  if (!retired) return;
  session.rootsSent = true;
  // The gateway's roots (current first), whatever root a profile names for its own SCEP server.
  const [current, ...others] = rootCommands(s.caCertificatePem, form);
  push(current!, { kind: 'trust', caId: s.currentCaId });
  for (const c of others) push(c);
}
