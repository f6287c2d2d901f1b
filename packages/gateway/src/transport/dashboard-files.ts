import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { NOSNIFF, sendJson } from './http';
import type { HttpResponse, TemplatedApp } from './uws';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

/**
 * The page may load only its own files and talk only to this node; it cannot be framed (no
 * clickjacking of admin buttons) and sends no Referer anywhere.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': NOSNIFF,
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Where the built Dashboard is: the @relay/dashboard workspace's dist/. */
export function dashboardDir(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve('@relay/dashboard/package.json')), 'dist');
  } catch {
    // Not installed as a package (a copied build): look beside the gateway, as in the repository.
    const beside = path.resolve(__dirname, '..', '..', '..', 'dashboard', 'dist');
    return existsSync(beside) ? beside : undefined;
  }
}

/**
 * Serves the Dashboard's static files at /dashboard/ from memory (read once at start-up; the
 * build is a handful of small files). /dashboard redirects to /dashboard/ so relative URLs work.
 */
export function registerDashboard(app: TemplatedApp, dir: string | undefined): void {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (dir && existsSync(dir)) {
    const walk = (rel: string) => {
      for (const name of readdirSync(path.join(dir, rel))) {
        const child = path.posix.join(rel, name);
        if (statSync(path.join(dir, child)).isDirectory()) walk(child);
        else files.set(`/${child}`, { body: readFileSync(path.join(dir, child)), type: TYPES[path.extname(name)] ?? 'application/octet-stream' });
      }
    };
    walk('');
  }
  const serve = (res: HttpResponse, file: string) => {
    const found = files.get(file === '/' ? '/index.html' : file);
    if (!found) {
      const message = files.size === 0 ? 'The Dashboard is not built on this node (npm run build)' : 'No such Dashboard file';
      return sendJson(res, 404, { error: { code: 'not_found', message } });
    }
    res.writeStatus('200 OK').writeHeader('content-type', found.type).writeHeader('cache-control', 'no-cache');
    for (const [name, value] of Object.entries(PAGE_HEADERS)) res.writeHeader(name, value);
    res.end(found.body);
  };
  app.get('/dashboard', (res) => {
    res.writeStatus('301 Moved Permanently').writeHeader('location', '/dashboard/').end();
  });
  app.get('/dashboard/*', (res, req) => serve(res, req.getUrl().slice('/dashboard'.length)));
}
