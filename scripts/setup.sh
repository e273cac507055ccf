#!/usr/bin/env bash
# Sets up a development environment from a fresh clone, then runs a real example.
#   - system programs the tests use (Debian packages, installed with apt-get when missing
#     and we are root): graphviz's `dot` and OpenSSH's sshd (openssh-server; the SSH tests
#     start their own sshd on a loopback port, no system sshd is started). Without them
#     the setup stops. rsvg-convert (librsvg2-bin) is optional: it turns the SVG pictures
#     of docs/images into PNG to look at; no test needs it, so failing to get it warns.
#     apt waits for the dpkg lock when another apt run holds it (a busy machine);
#   - a virtual environment in .venv, on Python 3.11 (PYTHON=... to name another
#     interpreter), with the exact versions of requirements/dev.lock (hash-checked), then
#     jobgraph itself, editable. The lock is refreshed with `bash scripts/lock.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements/dev.lock
APT_WAIT=600  # seconds to wait for another apt/dpkg run to release its lock

apt_install() {  # apt_install PACKAGE...: 0 when installed
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout="$APT_WAIT" "$@" >/dev/null
}

required=()
optional=()
command -v dot >/dev/null 2>&1 || required+=(graphviz)
[ -x /usr/sbin/sshd ] || required+=(openssh-server)
command -v rsvg-convert >/dev/null 2>&1 || optional+=(librsvg2-bin)
if [ $((${#required[@]} + ${#optional[@]})) -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${required[*]} ${optional[*]} (Debian packages)"
        apt-get update -qq -o DPkg::Lock::Timeout="$APT_WAIT" >/dev/null \
            || echo "setup: apt-get update failed; trying with the package lists as they are" >&2
        # policy-rc.d answering 101 keeps the package from starting a system sshd
        made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        status=0
        if [ ${#required[@]} -gt 0 ]; then
            apt_install "${required[@]}" || status=$?
        fi
        if [ ${#optional[@]} -gt 0 ]; then
            apt_install "${optional[@]}" \
                || echo "setup: warning: could not install ${optional[*]} (optional: only" \
                        "for looking at docs/images as PNG); going on" >&2
        fi
        [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
        if [ "$status" != 0 ]; then
            echo "setup: could not install ${required[*]} (apt-get exit $status);" \
                 "the tests need them" >&2
            exit 1
        fi
    else
        echo "setup: please install ${required[*]} ${optional[*]}" \
             "(e.g. sudo apt-get install ${required[*]} ${optional[*]});" \
             "tests needing them will be skipped" >&2
    fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: $PYTHON is Python $("$PYTHON" -c 'import platform; print(platform.python_version())');" \
         "the lock is made for 3.11 (PYTHON=/path/to/python3.11 bash scripts/setup.sh)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
quiet() { grep -v "^WARNING: Location" || true; }
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet
# exact versions, each checked against its hashes; then jobgraph, built by the locked hatchling
.venv/bin/python -m pip install -q --require-hashes --no-deps -r "$LOCK" 2>&1 | quiet
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | quiet
.venv/bin/python -m pip check >/dev/null \
    || { .venv/bin/python -m pip check >&2; echo "setup: $LOCK is not consistent" >&2; exit 1; }
.venv/bin/python -c "import jobgraph, jobgraph_ssh, trio, anyio, hypothesis, pydot" \
    || { echo "setup: installation failed" >&2; exit 1; }

echo "setup: done; running examples/quickstart.py"
.venv/bin/python examples/quickstart.py
