import { HttpError } from './errors.js';

// A bound on a JSON body's nesting depth and value count, checked on the raw
// bytes (express.json's `verify` hook) before JSON.parse builds anything.
// Brackets and commas inside strings do not count; escapes are skipped. The
// value count is containers plus separators, an upper bound on the values.

export interface JsonBounds {
  maxDepth: number;
  maxValues: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }
const COMMA = 0x2c;

/** The reason the body exceeds a bound, or null. */
export function jsonBoundsProblem(body: Uint8Array, b: JsonBounds): string | null {
  let depth = 0;
  let values = 1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (OPEN.has(c)) {
      if (++depth > b.maxDepth) return `JSON nested deeper than ${b.maxDepth}`;
      values++;
    } else if (CLOSE.has(c)) depth = Math.max(0, depth - 1);
    else if (c === COMMA) values++;
    if (values > b.maxValues) return `JSON body has more than ${b.maxValues} values`;
  }
  return null;
}

/** express.json({ verify }) hook: refuses with 400 and the reason (errors.ts answers HttpErrors as they are). */
export function verifyJsonBounds(b: JsonBounds) {
  return (_req: unknown, _res: unknown, body: Buffer): void => {
    const problem = jsonBoundsProblem(body, b);
    if (problem) throw new HttpError(400, problem);
  };
}
