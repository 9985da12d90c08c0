#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image. It installs what
# grading needs with pip (requirements-grading.txt: pytest, rich ... but not jupyter or
# nbgrader, which only the notebooks use), then the course itself, editable, so that the engine
# finds its exercises/ and hidden checks where this bundle was unpacked (/autograder/source).
# TCPLAB_AUTOGRADER_ROOT stands in for /autograder and TCPLAB_PYTHON for python3, to try it
# elsewhere.
set -euo pipefail
ROOT="${TCPLAB_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PYTHON="${TCPLAB_PYTHON:-python3}"
# Why: a pip that refuses to touch the system Python (PEP 668, Ubuntu 23.04 and later) would stop
# the build; this image exists only to grade, so installing into it is the point. Older pips
# ignore the setting.
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    # Only when the base image has no Python or no pip: the one thing pip cannot install.
    if [ -z "${TCPLAB_PYTHON:-}" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip
    else
        echo "setup.sh: $PYTHON has no pip; install pip for it, or pick a base image that has one" >&2
        exit 1
    fi
fi
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else
    "setup.sh: tcplab needs Python 3.10 or newer, this image has " + sys.version.split()[0]
    + ": choose the Ubuntu 22.04 base image or a newer one")'
"$PYTHON" -m pip install -q -r "$SOURCE/requirements-grading.txt"
"$PYTHON" -m pip install -q --no-deps -e "$SOURCE"
# Why: Gradescope's container lets root switch to an unprivileged uid for student code but
# (usually) not make mount namespaces, so the hidden checks are hidden by their permissions
# only: root's grader reads them before the switch, the student's uid never can.
chmod -R go-rwx "$SOURCE/graders/hidden"
echo "setup.sh: tcplab installed for $("$PYTHON" --version)"
