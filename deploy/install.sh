#!/bin/sh
# Install proxyd and vrrpd on this host (or into --root DIR): binaries,
# systemd units, documentation, and example configs where none exist yet.
# Idempotent: running it again updates binaries, units and docs, and never
# touches an existing config. Nothing is enabled or started.
# Undo with deploy/uninstall.sh (same --prefix/--root).
set -eu

usage() {
    cat <<'EOF'
Usage: deploy/install.sh [--prefix DIR] [--root DIR] [--bin-dir DIR] [--backup]

  --prefix DIR   installation prefix (default /usr/local): binaries go to
                 DIR/sbin, docs to DIR/share/doc/proxyd. Units go to
                 /etc/systemd/system, or /lib/systemd/system with --prefix /usr.
  --root DIR     install into DIR instead of / (image building, containers);
                 systemctl is not called then.
  --bin-dir DIR  take proxyd and vrrpd from DIR (default: the newest build in
                 $CARGO_TARGET_DIR or target/, release or debug).
  --backup       install the BACKUP example keepalived.conf (default MASTER)
                 when /etc/keepalived/keepalived.conf does not exist.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
prefix=/usr/local
root=
bindir=
role=master

while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --bin-dir) bindir=${2:?--bin-dir needs a directory}; shift 2 ;;
    --bin-dir=*) bindir=${1#*=}; shift ;;
    --backup) role=backup; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

case "$prefix" in
/*) ;;
*) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/
if [ -n "$root" ]; then
    root=$(cd "$root" && pwd)
    [ "$root" = / ] && root=
fi

say() { echo "install.sh: $*"; }

# --- binaries -------------------------------------------------------------
if [ -z "$bindir" ]; then
    newest=
    for t in "${CARGO_TARGET_DIR:-}" "$repo/target"; do
        [ -n "$t" ] || continue
        for p in release debug; do
            d=$t/$p
            [ -x "$d/proxyd" ] && [ -x "$d/vrrpd" ] || continue
            if [ -z "$newest" ] || [ "$d/proxyd" -nt "$newest/proxyd" ]; then
                newest=$d
            fi
        done
    done
    if [ -z "$newest" ]; then
        echo "install.sh: no proxyd/vrrpd build found; run 'cargo build --release' first or pass --bin-dir" >&2
        exit 1
    fi
    bindir=$newest
fi
for b in proxyd vrrpd; do
    if [ ! -x "$bindir/$b" ]; then
        echo "install.sh: $bindir/$b not found or not executable" >&2
        exit 1
    fi
done

# Copy next to the destination, then rename: replacing a running binary
# must not fail (ETXTBSY) nor leave a half-written file.
put() { # mode src dest
    mkdir -p "$(dirname "$3")"
    put_tmp="$3.install.$$"
    cp "$2" "$put_tmp"
    chmod "$1" "$put_tmp"
    mv -f "$put_tmp" "$3"
}

sbin=$root$prefix/sbin
for b in proxyd vrrpd; do
    put 0755 "$bindir/$b" "$sbin/$b"
done
say "binaries from $bindir -> $prefix/sbin"

# --- docs -----------------------------------------------------------------
docdir=$root$prefix/share/doc/proxyd
mkdir -p "$docdir/examples"
for f in "$repo"/docs/*.md; do
    [ -f "$f" ] && put 0644 "$f" "$docdir/$(basename "$f")"
done
for f in "$here"/examples/*; do
    [ -f "$f" ] && put 0644 "$f" "$docdir/examples/$(basename "$f")"
done
say "documentation -> $prefix/share/doc/proxyd"

# --- systemd units ----------------------------------------------------------
if [ "$prefix" = /usr ]; then
    unitdir=/lib/systemd/system
else
    unitdir=/etc/systemd/system
fi

# Is NAME.service provided by something else than our own unit (typically
# Debian's haproxy or keepalived package)? Then Alias=NAME.service would
# clash with it.
foreign_unit() { # name ours
    for d in /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
        /lib/systemd/system /usr/lib/systemd/system; do
        f=$root$d/$1
        if [ -L "$f" ]; then
            case "$(readlink "$f")" in
            */"$2") continue ;;
            esac
            return 0
        fi
        if [ -e "$f" ]; then
            return 0
        fi
    done
    return 1
}

install_unit() { # ours alias
    src=$repo/systemd/$1
    unit_tmp=$(mktemp)
    sed -e "s#/usr/local/sbin/#$prefix/sbin/#g" \
        -e "s#/usr/local/share/doc/#$prefix/share/doc/#g" "$src" >"$unit_tmp"
    if foreign_unit "$2" "$1"; then
        sed -i -e "/^Alias=$2\$/d" "$unit_tmp"
        say "another $2 exists (its Debian package?): $1 installed WITHOUT Alias=$2."
        say "  To switch: systemctl disable --now ${2%.service}; apt-get remove ${2%.service}; then run install.sh again."
    fi
    # A unit installed earlier in the other directory (other --prefix) would
    # shadow or duplicate this one.
    for d in /etc/systemd/system /lib/systemd/system; do
        [ "$d" = "$unitdir" ] && continue
        if [ -f "$root$d/$1" ] && grep -q "^# ${1%.service}: drop-in replacement" "$root$d/$1"; then
            rm -f "$root$d/$1"
            say "removed $d/$1 left by an install with another --prefix"
        fi
    done
    put 0644 "$unit_tmp" "$root$unitdir/$1"
    rm -f "$unit_tmp"
}
install_unit proxyd.service haproxy.service
install_unit vrrpd.service keepalived.service
say "units -> $unitdir"

# --- example configs: only where none exists ---------------------------------
config() { # src dest
    if [ -e "$root$2" ] || [ -L "$root$2" ]; then
        say "$2 exists, left unchanged"
    else
        put 0644 "$1" "$root$2"
        say "$2 installed from $(basename "$1")"
    fi
}
config "$here/examples/haproxy.cfg" /etc/haproxy/haproxy.cfg
config "$here/examples/keepalived-$role.conf" /etc/keepalived/keepalived.conf
config "$here/examples/default-proxyd" /etc/default/proxyd
config "$here/examples/default-vrrpd" /etc/default/vrrpd

# Debian's stock haproxy.cfg names these error pages (used only by http
# mode, but they must exist for the file to load): plain ones where the
# haproxy package did not provide them.
for code in 400 403 408 500 502 503 504; do
    f=/etc/haproxy/errors/$code.http
    [ -e "$root$f" ] && continue
    case $code in
    400) reason="Bad Request" ;;
    403) reason="Forbidden" ;;
    408) reason="Request Timeout" ;;
    500) reason="Internal Server Error" ;;
    502) reason="Bad Gateway" ;;
    503) reason="Service Unavailable" ;;
    504) reason="Gateway Timeout" ;;
    esac
    mkdir -p "$root/etc/haproxy/errors"
    printf 'HTTP/1.0 %s %s\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n%s %s\n' \
        "$code" "$reason" "$code" "$reason" >"$root$f"
    made_errors=1
done
[ -n "${made_errors:-}" ] && say "created missing /etc/haproxy/errors/*.http"

# Debian's stock haproxy.cfg drops privileges to haproxy:haproxy and
# chroots into /var/lib/haproxy: provide them when the haproxy package
# did not.
has_entry() { # database name
    if [ -n "$root" ]; then
        grep -q "^$2:" "$root/etc/$1" 2>/dev/null
    else
        getent "$1" "$2" >/dev/null
    fi
}
if [ -n "$root" ]; then rootopt="--root $root"; else rootopt=; fi
if ! has_entry group haproxy; then
    # shellcheck disable=SC2086
    groupadd $rootopt --system haproxy
    say "created system group haproxy"
fi
if ! has_entry passwd haproxy; then
    # shellcheck disable=SC2086
    useradd $rootopt --system --gid haproxy --home-dir /var/lib/haproxy --no-create-home \
        --shell /usr/sbin/nologin --comment "proxyd (haproxy.cfg user)" haproxy
    say "created system user haproxy"
fi
if [ ! -d "$root/var/lib/haproxy" ]; then
    mkdir -p "$root/var/lib/haproxy"
    chmod 0755 "$root/var/lib/haproxy"
    say "created /var/lib/haproxy (the stock config's chroot)"
fi

# --- tell systemd -------------------------------------------------------------
if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    say "systemd reloaded"
fi

cat <<EOF
install.sh: done. Next steps:
  edit /etc/haproxy/haproxy.cfg and /etc/keepalived/keepalived.conf for this host, then
  proxyd -c -f /etc/haproxy/haproxy.cfg && vrrpd -t -f /etc/keepalived/keepalived.conf
  systemctl enable --now proxyd vrrpd
EOF
