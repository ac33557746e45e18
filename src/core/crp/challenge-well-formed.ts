import { decodeChallenge } from '../challenge/token.js';
import { need, type Check } from './context.js';

/** The challengePassword is a gateway token: alphabet, length, version, field values. */
export const checkChallengeWellFormed: Check = {
  name: 'challengeWellFormed',
  summary: "the challenge is well formed (the gateway's token layout)",
  refuses: ['CHALLENGE_MALFORMED'],
  async run(ctx) {
    const token = need(ctx.request.csr.challengePassword ?? undefined, this.name, 'a challengePassword');
    const d = decodeChallenge(token.trim());
    // The detail says how long it was, never what it was.
    if (!d.ok) return { code: 'CHALLENGE_MALFORMED', detail: `${token.length} characters, not a gateway challenge` };
    ctx.decodedChallenge = d.decoded;
    return null;
  },
};
