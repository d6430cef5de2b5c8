#!/bin/sh
# Headless Chromium for the browser tests of the Panel apps (tests/apps), from Debian's
# packages: Playwright drives /usr/bin/chromium (Playwright's own browser download needs a
# CDN this project does not assume). Does nothing when Chromium is already installed.
set -e
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "Error: Chromium is missing and this user cannot install Debian packages;" >&2
    echo "install 'chromium' (apt-get install chromium) and run again." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
