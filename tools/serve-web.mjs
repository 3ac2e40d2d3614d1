#!/usr/bin/env node
/**
 * `npm run web`: builds the browser page (tools/build-web.mjs) and serves web/ on 127.0.0.1.
 *
 *   node tools/serve-web.mjs [--port 5173] [--no-build]
 *
 * `--port 0` takes a free port. The first line on stdout is always
 * `trm web: serving http://127.0.0.1:<port>/` (the browser test reads the port from it).
 * Only files under web/ are served, only GET and HEAD, never a directory listing.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { buildWeb, webRoot } from './build-web.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.safetensors': 'application/octet-stream',
};

const usage = 'usage: node tools/serve-web.mjs [--port N] [--no-build]';

const parseArgs = (argv) => {
  let port = 5173;
  let build = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-build') build = false;
    else if (a === '--port' || a.startsWith('--port=')) {
      const v = a === '--port' ? argv[++i] : a.slice('--port='.length);
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < 0 || n > 65535)
        throw new Error(`--port: expected 0..65535, got ${v}\n${usage}`);
      port = n;
    } else if (a === '-h' || a === '--help') {
      console.log(usage);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${usage}`);
  }
  return { port, build };
};

/** Maps a URL path to a file under web/, or null when it would leave web/ or is not a file. */
const fileFor = (urlPath) => {
  let p;
  try {
    p = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (p.includes('\0')) return null;
  if (p.endsWith('/')) p += 'index.html';
  const full = normalize(join(webRoot, p));
  if (full !== webRoot && !full.startsWith(webRoot + sep)) return null;
  try {
    return statSync(full).isFile() ? full : null;
  } catch {
    return null;
  }
};

export const serveWeb = (port) =>
  new Promise((resolvePromise, reject) => {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const file = fileFor(req.url ?? '/');
      if (file === null) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': statSync(file).size,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolvePromise(server));
  });

try {
  const { port, build } = parseArgs(process.argv.slice(2));
  const built = build ? await buildWeb({ log: false }) : null;
  const server = await serveWeb(port);
  const addr = server.address();
  console.log(`trm web: serving http://127.0.0.1:${addr.port}/`);
  if (built === null) console.log('trm web: --no-build: serving web/dist/ as it is');
  else console.log(`trm web: built web/dist/main.js (${(built.bytes / 1024).toFixed(0)} KiB, ${built.ms} ms)`);
  console.log('trm web: Ctrl-C to stop');
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (e) {
  console.error(`trm web: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
