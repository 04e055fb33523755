#!/bin/sh
# Stand-in for Prisma's native schema-engine binary, which cannot be downloaded on
# machines without internet access. `prisma generate` only checks that the file
# exists; migrations run through the WebAssembly engine (npm run db:migrate).
echo "scopegraph: the native Prisma schema engine is not installed; use npm run db:migrate / db:migration / db:status" >&2
exit 1
