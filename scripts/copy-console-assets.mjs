// Part of `npm run build`: tsc compiles src/console/routes.ts to dist/console,
// and the console's static files (not TypeScript, so tsc leaves them) go next
// to it, where consoleRoutes() reads them. Usage: node scripts/copy-console-assets.mjs [outDir]
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'src/console');
const to = path.join(path.resolve(process.argv[2] ?? path.join(root, 'dist')), 'console');
mkdirSync(to, { recursive: true });
for (const name of ['index.html', 'console.js', 'console.css']) copyFileSync(path.join(from, name), path.join(to, name));
