#!/bin/sh
# npm start: the built JavaScript with plain node, in development as in production (tsx compiled
# every module at every start: ~0.8 s; `npm run dev` keeps it, for restarts on changes). dist/ is
# built by `npm install` (postinstall), and here first when it is missing or older than a source,
# under a lock so that two starts at once build once. `exec`: the signal a container runtime
# sends to `npm start` reaches the server itself.
set -eu
cd "$(dirname "$0")/.."
# Node's on-disk cache of compiled modules: a warm start parses less.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-node_modules/.cache/node-compile-cache}"
stale() {
  # dist/.tsbuildinfo is touched by every build, whether or not it emitted anything.
  [ ! -f dist/server.js ] || [ ! -f dist/.tsbuildinfo ] ||
    [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/.tsbuildinfo -print | head -n 1)" ]
}
if stale; then
  mkdir -p node_modules/.cache/scopegraph
  (
    flock 9
    if stale; then
      echo "dist/ is missing or older than the sources: npm run build" >&2
      npm run build --silent >&2
    fi
  ) 9>node_modules/.cache/scopegraph/build.lock
fi
if [ "${NODE_ENV:-development}" = production ]; then
  # Word splitting wanted: one flag per line of scripts/node-flags.
  # shellcheck disable=SC2046
  exec node $(grep -v '^#' scripts/node-flags) dist/server.js
fi
# Stack traces name the TypeScript sources.
exec node --enable-source-maps dist/server.js
