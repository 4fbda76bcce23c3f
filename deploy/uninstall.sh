#!/bin/sh
# Remove what deploy/install.sh installed: binaries, units (and their
# enablement and aliases), documentation. Configs (/etc/haproxy,
# /etc/keepalived, /etc/default/proxyd, /etc/default/vrrpd), the haproxy
# user and /var/lib/haproxy stay, as with a package removal without purge.
# Idempotent. Stops the services first when systemd runs them.
set -eu

usage() {
    echo "Usage: deploy/uninstall.sh [--prefix DIR] [--root DIR]   (the same as given to install.sh)"
}

prefix=/usr/local
root=
while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "uninstall.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
prefix=${prefix%/}
if [ -n "$root" ]; then
    root=$(cd "$root" && pwd)
    [ "$root" = / ] && root=
fi

say() { echo "uninstall.sh: $*"; }

live=
if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    live=1
fi

ours() { # file unit: is FILE our unit (install.sh marks them)?
    [ -f "$1" ] && grep -q "^# ${2%.service}: drop-in replacement" "$1"
}

for unit in proxyd.service vrrpd.service; do
    found=
    for d in /etc/systemd/system /lib/systemd/system; do
        ours "$root$d/$unit" "$unit" && found=1
    done
    [ -n "$found" ] || continue
    if [ -n "$live" ]; then
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
        say "stopped and disabled $unit"
    fi
    # Enablement and alias symlinks (systemctl disable removes them on a
    # live system; with --root, or if it failed, do it by hand).
    for link in "$root"/etc/systemd/system/*.service "$root"/etc/systemd/system/*/*.service; do
        [ -L "$link" ] || continue
        case "$(readlink "$link")" in
        */"$unit") rm -f "$link" ;;
        esac
    done
    for d in /etc/systemd/system /lib/systemd/system; do
        if ours "$root$d/$unit" "$unit"; then
            rm -f "$root$d/$unit"
            say "removed $d/$unit"
        fi
    done
done

for b in proxyd vrrpd; do
    if [ -e "$root$prefix/sbin/$b" ]; then
        rm -f "$root$prefix/sbin/$b"
        say "removed $prefix/sbin/$b"
    fi
done
if [ -d "$root$prefix/share/doc/proxyd" ]; then
    rm -rf "$root$prefix/share/doc/proxyd"
    say "removed $prefix/share/doc/proxyd"
fi

if [ -n "$live" ]; then
    systemctl daemon-reload
    systemctl reset-failed proxyd.service vrrpd.service >/dev/null 2>&1 || true
fi
say "done (configs in /etc/haproxy, /etc/keepalived and /etc/default were kept)"
