import { pino, type Logger } from 'pino';

// Challenges and private keys must never reach a log line. Callers log a
// challenge fingerprint instead; these paths are a second net for mistakes.
const REDACT = [
  'challenge',
  '*.challenge',
  'challengePassword',
  '*.challengePassword',
  'privateKey',
  '*.privateKey',
  'token',
  '*.token',
  'authorization',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { svc: 'mdmgw' } },
    destination as pino.DestinationStream | undefined,
  );
}

export type { Logger };
