#!/bin/sh
# The Debian packages Qt's xcb platform and the real-window test need, each checked on
# its own (a machine with some of them must still get the rest). Prints what it installs;
# does nothing without apt-get or root (then the real-window test skips with the reason).
set -e
need_cmd() {  # command package
    command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
# the libraries: one list, shared with the studio's own start-up check (it names what is missing)
missing=" $(python3 "$(dirname "$0")/../mfdv_studio/platform_check.py" --missing-packages)"
missing="${missing% }"
need_cmd Xvfb xvfb
need_cmd xdotool xdotool
need_cmd import imagemagick
[ -z "${missing# }" ] && exit 0
if [ ! -x /usr/bin/apt-get ] || [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing Debian packages:$missing (install them as root: apt-get install$missing)" >&2
    exit 0
fi
echo "system-deps: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
