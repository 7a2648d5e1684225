#!/usr/bin/env bash
# Run the whole test suite: set up the engine and the package, then pytest.
# Arguments are passed on to pytest.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/engine.sh
echo "[test] pip install -e .[test]"
python3 -m pip install -q -e ".[test]" 2>&1 | grep -v -E "^WARNING: (Running pip as|Location)" || true

# Headless Chromium renders the HTML report in its test.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "[test] apt-get install chromium (for the HTML report test)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi

# pytest exits 5 when it collects no test, so an empty run fails here too.
exec python3 -m pytest -p no:cacheprovider "$@"
