#!/bin/sh
# map-musl.sh ARCH SYSROOT [PKG...]: assemble a musl sysroot from Debian's musl-dev layout
# (ARCH: Debian's name, amd64 or arm64).
set -eu
arch=$1 root=$2; shift 2
case "$arch" in
amd64) cpu=x86_64 ;;
arm64) cpu=aarch64 ;;
*) echo "map-musl.sh: unknown ARCH $arch" >&2; exit 1 ;;
esac
triple=$cpu-linux-musl gnu=$cpu-linux-gnu
mkdir -p "$root/usr/include" "$root/usr/lib" "$root/lib"

# musl: headers, crt objects, libc; the loader is the same file as libc.so.
cp -a /usr/include/$triple/. "$root/usr/include/"
cp -a /usr/lib/$triple/. "$root/usr/lib/"
cp -L /lib/ld-musl-$cpu.so.1 "$root/lib/ld-musl-$cpu.so.1"
ln -sf ../../lib/ld-musl-$cpu.so.1 "$root/usr/lib/libc.so"

# Extra -dev packages: their headers (never overwriting musl's), libraries rebuilt.
: > "$root/usr/lib/crossjit-headers-only.txt"
for pkg in "$@"; do
    dpkg -L "$pkg:$arch" | while read -r f; do
        case "$f" in
        /usr/include/$gnu/*) rel=${f#/usr/include/$gnu/} ;;
        /usr/include/*) rel=${f#/usr/include/} ;;
        *) continue ;;
        esac
        if [ -d "$f" ]; then mkdir -p "$root/usr/include/$rel"
        elif [ ! -e "$root/usr/include/$rel" ]; then
            mkdir -p "$(dirname "$root/usr/include/$rel")"; cp -a "$f" "$root/usr/include/$rel"
        fi
    done
    case "$pkg" in
    zlib1g-dev) src=zlib ;;
    libmbedtls-dev) src=mbedtls ;;
    *) echo "$pkg" >> "$root/usr/lib/crossjit-headers-only.txt"; continue ;;
    esac
    work=$(mktemp -d) && cd "$work"
    apt-get source --download-only -qq "$src" >/dev/null
    tar xf ./*.orig.tar.*
    cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n1)"
    case "$src" in
    zlib)
        CC=musl-gcc CFLAGS=-O2 ./configure --prefix=/usr --shared >/dev/null
        make -s -j"$(nproc)" libz.so.1.2.13 >/dev/null
        install -m 755 libz.so.1.2.13 "$root/usr/lib/"
        ln -sf libz.so.1.2.13 "$root/usr/lib/libz.so.1"
        ln -sf libz.so.1 "$root/usr/lib/libz.so" ;;
    mbedtls)
        # Debian's config.h (threading, CMAC, DTLS-SRTP... on) is the one the sysroot's
        # headers carry; the upstream default would give structs of another layout.
        cp /usr/include/mbedtls/config.h include/mbedtls/config.h
        make -s -C library -j"$(nproc)" CC=musl-gcc SHARED=1 CFLAGS=-O2 \
            libmbedcrypto.so libmbedx509.so libmbedtls.so >/dev/null
        for lib in library/libmbed*.so.*; do install -m 755 "$lib" "$root/usr/lib/"; done
        for l in mbedcrypto mbedx509 mbedtls; do
            ln -sf "$(basename library/lib$l.so.*)" "$root/usr/lib/lib$l.so"
        done ;;
    esac
    cd / && rm -rf "$work"
done
