import Ajv2020 from 'ajv/dist/2020.js';
import { SCHEMAS } from '../../../src/adapters/android/versions.js';

// Validates documents against the published JSON Schema (draft 2020-12).

const ajv = new Ajv2020.default({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, validateFormats: false });
const validators = new Map(Object.entries(SCHEMAS).map(([v, schema]) => [Number(v), ajv.compile(schema)]));

export function schemaErrors(doc: unknown, version = 1): string[] {
  const validate = validators.get(version);
  if (!validate) throw new Error(`no schema version ${version}`);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
