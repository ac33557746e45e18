import { IssuancePending, IssuanceRefused, type UpstreamContact } from '../../core/issuer.js';

// The last time an upstream CA was asked, and whether it could be: the health
// view shows it per upstream. A PENDING or a refusal is an answer (the upstream
// is up); only 'unavailable' (unreachable, 5xx, unusable answer) is a failure.

export class ContactTracker {
  #last: UpstreamContact | null = null;

  last(): UpstreamContact | null {
    return this.#last;
  }

  /** Runs one exchange with the upstream and remembers how it went; the result or error passes through. */
  async track<T>(exchange: () => Promise<T>): Promise<T> {
    try {
      const result = await exchange();
      this.#last = { at: new Date().toISOString(), ok: true, message: 'answered' };
      return result;
    } catch (e) {
      const answered = e instanceof IssuancePending || (e instanceof IssuanceRefused && e.kind === 'refused');
      this.#last = { at: new Date().toISOString(), ok: answered, message: e instanceof IssuancePending ? 'answered PENDING' : (e as Error).message };
      throw e;
    }
  }
}
