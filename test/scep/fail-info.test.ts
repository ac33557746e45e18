import { describe, expect, it } from 'vitest';
import { REASONS, type ReasonCode } from '../../src/core/reasons.js';
import { CODEC_FAILURES, FAIL_INFO_VALUE, type CodecFailure } from '../../src/scep/codec/index.js';
import { failInfoFor } from '../../src/scep/service.js';

// The codec owns failInfo and its own failure codes; core owns the reason
// codes. These keep the two tables saying the same thing.

describe('failInfo and codec failure codes', () => {
  it('every reason code maps to an RFC 8894 failInfo number', () => {
    for (const code of Object.keys(REASONS) as ReasonCode[]) {
      expect(FAIL_INFO_VALUE[failInfoFor(code)], code).toBeTypeOf('number');
    }
  });

  it('each codec failure is a core reason code with the same text', () => {
    for (const [code, text] of Object.entries(CODEC_FAILURES) as [CodecFailure, string][]) {
      expect(REASONS[code]?.text, code).toBe(text);
    }
  });
});
