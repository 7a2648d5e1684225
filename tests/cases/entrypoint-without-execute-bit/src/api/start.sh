#!/bin/sh
set -e
node scripts/check-env.js
exec node server.js
