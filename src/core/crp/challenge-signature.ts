import { verifyDecodedChallenge } from '../challenge/token.js';
import { need, type Check } from './context.js';

/** The gateway's challenge-signing key signed it. From here on its claims are trusted. */
export const checkChallengeSignature: Check = {
  name: 'challengeSignature',
  summary: "the challenge signature verifies (Ed25519, the gateway's challenge key)",
  refuses: ['CHALLENGE_BAD_SIGNATURE'],
  async run(ctx) {
    const decoded = need(ctx.decodedChallenge, this.name, 'a decoded challenge');
    if (!verifyDecodedChallenge(ctx.deps.challengePublicKey, decoded)) return { code: 'CHALLENGE_BAD_SIGNATURE' };
    const claims = decoded.claims;
    ctx.claims = claims;
    ctx.basis = { kind: claims.kind, profileId: claims.profileId, profileVersion: claims.profileVersion, target: claims.target };
    return null;
  },
};
