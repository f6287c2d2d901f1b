#!/usr/bin/env node
// Build step: tsc compiles only TypeScript; the Redis backend's Lua scripts are read at run time
// from beside the compiled code.
'use strict';
const { cpSync } = require('node:fs');
const path = require('node:path');

const from = path.join(__dirname, '..', 'src', 'backends', 'redis', 'lua');
const to = path.join(__dirname, '..', 'dist', 'backends', 'redis', 'lua');
cpSync(from, to, { recursive: true });
