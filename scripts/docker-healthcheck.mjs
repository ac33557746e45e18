#!/usr/bin/env node
// The container's HEALTHCHECK: GET /readyz on the gateway inside this
// container; exit 0 when ready (200), 1 otherwise (503, no answer within 4 s).
// Reads the same environment as `mdmgw serve`: MDMGW_PORT, MDMGW_HOST (a
// wildcard address is asked on loopback) and MDMGW_TLS_CERT (then HTTPS; the
// server certificate is not checked: this is the container talking to itself).
import http from 'node:http';
import https from 'node:https';

const env = process.env;
const port = Number(env.MDMGW_PORT || 8080);
const configured = (env.MDMGW_HOST || '').trim();
const host = ['', '0.0.0.0', '::', '[::]'].includes(configured) ? '127.0.0.1' : configured.replace(/^\[|\]$/g, '');
const tls = Boolean((env.MDMGW_TLS_CERT || '').trim());

const req = (tls ? https : http).get({ host, port, path: '/readyz', timeout: 4000, rejectUnauthorized: false }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => {
  process.stderr.write(`healthcheck: ${e.message}\n`);
  process.exit(1);
});
