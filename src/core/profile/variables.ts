import type { Device, ReportedField, User } from '../model.js';

// Template variables an admin may use in a profile's subject and SANs, named
// after Intune's so profiles translate one to one. Each variable is one row:
// where its value comes from. A value that is absent or empty is "missing":
// resolving a profile for that target fails with ATTRIBUTE_MISSING, which is a
// per-target error (that device gets no certificate), never a crash.
//
// {{DeviceName}} and {{SerialNumber}} take the admin's value; when the admin
// set none, the value the device reported, unless that one collides with
// another device's (core/reported-values.ts): a device cannot name itself
// into another device's certificate subject.

export interface TemplateContext {
  user: User | null;
  device: Device | null;
}

type Source = (ctx: TemplateContext) => string | null | undefined;

const fromUser =
  (f: (u: User) => string | null | undefined): Source =>
  (ctx) =>
    ctx.user ? f(ctx.user) : null;
const fromDevice =
  (f: (d: Device) => string | null | undefined): Source =>
  (ctx) =>
    ctx.device ? f(ctx.device) : null;

export const BUILTIN_VARIABLES: Readonly<Record<string, Source>> = {
  UserPrincipalName: fromUser((u) => u.userPrincipalName),
  EmailAddress: fromUser((u) => u.email),
  // The directory's sAMAccountName when synced as attribute UserName, else the UPN's local part.
  UserName: fromUser((u) => u.attributes.UserName || localPart(u.userPrincipalName)),
  DisplayName: fromUser((u) => u.displayName),
  OnPremisesDistinguishedName: fromUser((u) => u.attributes.OnPremisesDistinguishedName),
  // The AD objectSid (S-1-5-21-...) a directory sync keeps as attribute ObjectSid (docs/directory.md).
  ObjectSid: fromUser((u) => u.attributes.ObjectSid),
  UserId: fromUser((u) => u.id),
  DeviceName: fromDevice((d) => d.name ?? usableReported(d, 'name')),
  DeviceId: fromDevice((d) => d.id),
  SerialNumber: fromDevice((d) => d.serialNumber ?? usableReported(d, 'serialNumber')),
  Platform: fromDevice((d) => d.platform),
};

/** Variables that fall back on a device-reported value, and which one. */
const REPORTED_FALLBACK: Readonly<Record<string, ReportedField>> = { DeviceName: 'name', SerialNumber: 'serialNumber' };

function usableReported(d: Device, field: ReportedField): string | null {
  return d.reported.conflicts.includes(field) ? null : d.reported[field];
}

/** True when the variable has no admin value and the device's reported one is withheld as a conflict. */
function withheldAsConflict(name: string, ctx: TemplateContext): boolean {
  const field = Object.hasOwn(REPORTED_FALLBACK, name) ? REPORTED_FALLBACK[name] : undefined;
  const d = ctx.device;
  if (!field || !d || d[field] !== null) return false;
  return d.reported.conflicts.includes(field) && d.reported[field] !== null;
}

function localPart(upn: string): string {
  const at = upn.lastIndexOf('@');
  return at < 0 ? upn : upn.slice(0, at);
}

/** Custom directory attributes: {{user.<attr>}} and {{device.<attr>}}. */
const CUSTOM_RE = /^(user|device)\.([A-Za-z][A-Za-z0-9_-]{0,63})$/;

/** `{{ name }}`; the name may not contain braces. Whitespace inside the braces is ignored. */
const TEMPLATE_RE = /\{\{([^{}]*)\}\}/g;

export function isKnownVariable(name: string): boolean {
  return Object.hasOwn(BUILTIN_VARIABLES, name) || CUSTOM_RE.test(name);
}

/** Every variable name used in a template, in order of appearance, without duplicates. */
export function templateVariables(template: string): string[] {
  const seen = new Set<string>();
  for (const m of template.matchAll(TEMPLATE_RE)) seen.add(m[1]!.trim());
  return [...seen];
}

/** Describes brace misuse the variable regex cannot see (`{{Name}`, `Name}}`), or null. */
export function templateSyntaxProblem(template: string): string | null {
  const rest = template.replace(TEMPLATE_RE, '');
  if (rest.includes('{{') || rest.includes('}}')) return 'unbalanced {{ }} in template';
  return null;
}

function lookup(name: string, ctx: TemplateContext): string | null {
  const builtin = Object.hasOwn(BUILTIN_VARIABLES, name) ? BUILTIN_VARIABLES[name] : undefined;
  if (builtin) return builtin(ctx) || null;
  const m = CUSTOM_RE.exec(name);
  if (!m) return null;
  const owner = m[1] === 'user' ? ctx.user : ctx.device;
  const attrs = owner?.attributes;
  const key = m[2]!;
  return attrs && Object.hasOwn(attrs, key) ? attrs[key] || null : null;
}

/**
 * Replaces every {{Variable}} with its value for this user/device. Values are
 * inserted verbatim: callers fill one field at a time (an RDN value, a SAN
 * value) so a comma in a display name cannot add an RDN.
 */
export function fillTemplate(
  template: string,
  ctx: TemplateContext,
): { ok: true; value: string } | { ok: false; missing: string; reportedConflict?: true } {
  const state: { missing: string | null } = { missing: null };
  const value = template.replace(TEMPLATE_RE, (_whole, raw: string) => {
    if (state.missing !== null) return '';
    const name = raw.trim();
    const v = lookup(name, ctx);
    if (v === null) {
      state.missing = name;
      return '';
    }
    return v;
  });
  if (state.missing === null) return { ok: true, value };
  return withheldAsConflict(state.missing, ctx) ? { ok: false, missing: state.missing, reportedConflict: true } : { ok: false, missing: state.missing };
}
