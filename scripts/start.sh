#!/bin/sh
# npm start. In production (NODE_ENV=production) the built JavaScript runs with plain node,
# built first when dist/ is missing or older than a source; otherwise the TypeScript sources run
# through tsx, so a fresh clone starts after `npm install` with no build. `exec` in both cases:
# the signal a container runtime sends to `npm start` reaches the server itself.
set -eu
cd "$(dirname "$0")/.."
# Node's on-disk cache of compiled modules: a warm start parses less.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-node_modules/.cache/node-compile-cache}"
if [ "${NODE_ENV:-}" = production ]; then
  # dist/.tsbuildinfo is rewritten by every build that changed something.
  if [ ! -f dist/server.js ] || [ ! -f dist/.tsbuildinfo ] ||
    [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/.tsbuildinfo -print | head -n 1)" ]; then
    echo "dist/ is missing or older than the sources: npm run build" >&2
    npm run build --silent >&2
  fi
  exec node dist/server.js
fi
exec node --import tsx src/server.ts
