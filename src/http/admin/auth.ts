import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

// Admin calls carry `Authorization: Bearer <token>`. Compare digests so the
// comparison time says nothing about the token.
export function bearerAuth(token: string) {
  const expected = createHash('sha256').update(token).digest();
  return (req: Request, res: Response, next: NextFunction) => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    const given = createHash('sha256')
      .update(m?.[1] ?? '')
      .digest();
    if (!m || !timingSafeEqual(given, expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mdm-gateway admin"');
      res.status(401).json({ error: m ? 'invalid admin token' : 'missing bearer token (Authorization: Bearer <admin token>)' });
      return;
    }
    next();
  };
}
