#!/usr/bin/env node
// Builds the Dashboard into dist/: the page and its stylesheets as they are, and src/main.ts
// type-checked with tsc, then bundled by esbuild into one small script with uPlot, its only
// library (no framework). The gateway serves dist/ at /dashboard/.
'use strict';
const { execFileSync } = require('node:child_process');
const { cpSync, mkdirSync, rmSync } = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
for (const file of ['index.html', 'style.css']) cpSync(path.join(root, 'src', file), path.join(dist, file));
// uPlot's own stylesheet, served as a file: the page's CSP allows no inline styles.
cpSync(require.resolve('uplot/dist/uPlot.min.css'), path.join(dist, 'uplot.css'));
esbuild.buildSync({
  entryPoints: [path.join(root, 'src', 'main.ts')],
  outfile: path.join(dist, 'app.js'),
  bundle: true,
  format: 'iife',
  target: 'es2020',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});
