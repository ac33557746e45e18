import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { referencePath } from '../../helpers/reference.js';

// Validates rendered Apple payloads against Apple's own YAML schemas
// (github.com/apple/device-management, read from $MDMGW_REFERENCE_DIR/apple/mdm:
// see ../../helpers/reference.ts; callers run inside describeWithReference): every key
// we emit must exist with the right type, every required key must be present,
// values must be in `rangelist` and match `format` where given, and nested
// dictionaries and arrays are walked through `subkeys`.

export interface SchemaKey {
  key: string;
  type: string;
  presence?: 'required' | 'optional';
  rangelist?: unknown[];
  format?: string;
  subkeys?: SchemaKey[];
  repetition?: { min?: number; max?: number };
  supportedOS?: Record<string, unknown>;
}

interface SchemaFile {
  payload: { payloadtype?: string; requesttype?: string };
  payloadkeys: SchemaKey[];
  responsekeys?: SchemaKey[];
}

export function loadSchema(relative: string): SchemaFile {
  return parseYaml(readFileSync(referencePath('apple', 'mdm', relative), 'utf8')) as SchemaFile;
}

const PAYLOAD_FILES: Record<string, string> = {
  'com.apple.security.scep': 'profiles/com.apple.security.scep.yaml',
  'com.apple.security.root': 'profiles/com.apple.security.root.yaml',
  'com.apple.security.pkcs1': 'profiles/com.apple.security.pkcs1.yaml',
  'com.apple.mdm': 'profiles/com.apple.mdm.yaml',
};

/**
 * Documented exceptions the YAML cannot express: Apple's SCEP SubjectAltName
 * text says "a single string or an array of strings for each key".
 */
const STRING_OR_STRING_ARRAY = new Set(['PayloadContent.SubjectAltName.rfc822Name', 'PayloadContent.SubjectAltName.dNSName', 'PayloadContent.SubjectAltName.uniformResourceIdentifier', 'PayloadContent.SubjectAltName.ntPrincipalName']);

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case '<string>':
      return typeof v === 'string';
    case '<integer>':
      return typeof v === 'number' && Number.isInteger(v);
    case '<real>':
      return typeof v === 'number';
    case '<boolean>':
      return typeof v === 'boolean';
    case '<data>':
      return v instanceof Uint8Array;
    case '<date>':
      return v instanceof Date;
    case '<array>':
      return Array.isArray(v);
    case '<dictionary>':
      return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
    case '<any>':
      return true;
    default:
      throw new Error(`schema type ${type} unknown to the validator`);
  }
}

function checkValue(k: SchemaKey, v: unknown, at: string, rel: string, errors: string[]): void {
  if (STRING_OR_STRING_ARRAY.has(rel) && Array.isArray(v)) {
    if (!v.every((x) => typeof x === 'string')) errors.push(`${at}: expected strings`);
    return;
  }
  if (!typeOk(k.type, v)) {
    errors.push(`${at}: expected ${k.type}, got ${Array.isArray(v) ? 'array' : v instanceof Uint8Array ? 'data' : typeof v}`);
    return;
  }
  if (k.rangelist && !k.rangelist.includes(v)) errors.push(`${at}: ${JSON.stringify(v)} not in ${JSON.stringify(k.rangelist)}`);
  if (k.format && typeof v === 'string' && !new RegExp(k.format).test(v)) errors.push(`${at}: ${JSON.stringify(v)} does not match ${k.format}`);
  if (k.type === '<dictionary>' && k.subkeys) {
    const anyKey = k.subkeys.length === 1 && k.subkeys[0]!.key === 'ANY';
    if (!anyKey) checkDict(k.subkeys, v as Record<string, unknown>, at, rel, errors);
  }
  if (k.type === '<array>' && k.subkeys && k.subkeys.length > 0) {
    const item = k.subkeys[0]!;
    const arr = v as unknown[];
    if (item.repetition?.min !== undefined && arr.length < item.repetition.min) errors.push(`${at}: at least ${item.repetition.min} items`);
    if (item.repetition?.max !== undefined && arr.length > item.repetition.max) errors.push(`${at}: at most ${item.repetition.max} items`);
    arr.forEach((x, i) => checkValue(item, x, `${at}[${i}]`, `${rel}[]`, errors));
  }
}

export function checkDict(keys: SchemaKey[], dict: Record<string, unknown>, at: string, rel: string, errors: string[], extraAllowed: SchemaKey[] = [], os?: string): void {
  const all = [...keys, ...extraAllowed];
  const byName = new Map(all.map((k) => [k.key, k]));
  for (const [name, value] of Object.entries(dict)) {
    const k = byName.get(name);
    if (!k) {
      errors.push(`${at}.${name}: key not in the schema`);
      continue;
    }
    checkValue(k, value, `${at}.${name}`, rel ? `${rel}.${name}` : name, errors);
  }
  // With an OS given (check-in messages), a key whose supportedOS does not list it is not required there.
  const applies = (k: SchemaKey) => !os || !k.supportedOS || os in k.supportedOS;
  for (const k of all) if (k.presence === 'required' && applies(k) && !(k.key in dict)) errors.push(`${at}.${k.key}: required key missing`);
}

/** Validates a whole configuration profile: TopLevel, then each payload against CommonPayloadKeys + its own schema. */
export function validateConfigurationProfile(profile: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const top = loadSchema('profiles/TopLevel.yaml');
  checkDict(top.payloadkeys, profile, '$', '', errors);
  const common = loadSchema('profiles/CommonPayloadKeys.yaml').payloadkeys;
  const content = Array.isArray(profile.PayloadContent) ? (profile.PayloadContent as Record<string, unknown>[]) : [];
  content.forEach((p, i) => {
    const type = p.PayloadType;
    const file = typeof type === 'string' ? PAYLOAD_FILES[type] : undefined;
    if (!file) {
      errors.push(`$.PayloadContent[${i}]: no schema for PayloadType ${String(type)}`);
      return;
    }
    const s = loadSchema(file);
    if (s.payload.payloadtype !== type) errors.push(`${file}: payloadtype ${s.payload.payloadtype} is not ${String(type)}`);
    checkDict(s.payloadkeys, p, `$.PayloadContent[${i}]`, '', errors, common);
  });
  return errors;
}

/** Validates a check-in message or a command's Command dictionary against its schema. */
export function validateMessage(relative: string, dict: Record<string, unknown>, os: 'iOS' | 'macOS', extraAllowed: SchemaKey[] = []): string[] {
  const errors: string[] = [];
  checkDict(loadSchema(relative).payloadkeys, dict, '$', '', errors, extraAllowed, os);
  return errors;
}
