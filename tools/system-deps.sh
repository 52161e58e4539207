#!/bin/sh
# The Debian packages Qt's xcb platform and the real-window test need, each checked on
# its own (a machine with some of them must still get the rest). Prints what it installs;
# does nothing without apt-get or root (then the real-window test skips with the reason).
set -e
missing=""
need_lib() {  # soname package
    ldconfig -p 2>/dev/null | grep -q "$1" || missing="$missing $2"
}
need_cmd() {  # command package
    command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need_lib libEGL.so.1 libegl1
need_lib libGL.so.1 libgl1
need_lib libxkbcommon.so.0 libxkbcommon0
need_lib libxkbcommon-x11.so.0 libxkbcommon-x11-0
need_lib libfontconfig.so.1 libfontconfig1
need_lib libdbus-1.so.3 libdbus-1-3
need_lib libxcb-cursor.so.0 libxcb-cursor0
need_lib libxcb-icccm.so.4 libxcb-icccm4
need_lib libxcb-keysyms.so.1 libxcb-keysyms1
need_lib libxcb-shape.so.0 libxcb-shape0
need_lib libxcb-xinerama.so.0 libxcb-xinerama0
need_lib libxcb-randr.so.0 libxcb-randr0
need_lib libxcb-render-util.so.0 libxcb-render-util0
need_lib libxcb-image.so.0 libxcb-image0
need_cmd Xvfb xvfb
need_cmd xdotool xdotool
need_cmd import imagemagick
[ -z "$missing" ] && exit 0
if [ ! -x /usr/bin/apt-get ] || [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing Debian packages:$missing (install them as root: apt-get install$missing)" >&2
    exit 0
fi
echo "system-deps: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
