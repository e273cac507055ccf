#!/usr/bin/env bash
# Sets up a development environment from a fresh clone, then runs a real example.
#   - system programs the tests use: graphviz's `dot` (Debian package graphviz) and
#     OpenSSH's sshd (Debian package openssh-server; the SSH tests start their own
#     sshd on a loopback port, no system sshd is started), installed with apt-get
#     when missing and we are root; rsvg-convert (librsvg2-bin), to look at the SVG
#     pictures of docs/images as PNG (no test needs it);
#   - a virtual environment in .venv with jobgraph and its dev dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${need[*]} (Debian packages)"
        apt-get update -qq >/dev/null
        # policy-rc.d answering 101 keeps the package from starting a system sshd
        made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${need[@]}" >/dev/null
        [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
    else
        echo "setup: please install ${need[*]} (e.g. sudo apt-get install ${need[*]});" \
             "tests needing them will be skipped" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import jobgraph, trio, anyio, hypothesis, pydot" \
    || { echo "setup: installation failed" >&2; exit 1; }

echo "setup: done; running examples/quickstart.py"
.venv/bin/python examples/quickstart.py
