# Stand-in for the official python:3.13-alpine image, which cannot be pulled here (no registry):
# Alpine 3.20.3's minirootfs (musl 1.2.5, the musl of Alpine 3.22) with CPython 3.13.5 in
# /usr/local, compiled for musl as docker-library/python's 3.13/alpine Dockerfile compiles it.
# No Alpine package repository is reachable, so the compiler is Debian's gcc with musl's headers
# (musl-tools) and the sources are Debian's source packages. Test scaffolding only; what it lacks
# against the official image is listed in README.md here.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE} AS build
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN sed 's/^deb /deb-src /' /etc/apt/sources.list > /etc/apt/sources.list.d/sources.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends gcc make musl-tools musl-dev linux-libc-dev \
        zlib1g-dev xz-utils autoconf automake libtool libltdl-dev tzdata ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# Every version the index lists is tried: a mirror can list a source it does not hold yet.
RUN sed 's/ trixie / bookworm /' /etc/apt/sources.list > /etc/apt/sources.list.d/bookworm.list \
    && mkdir /src && cd /src && apt-get update \
    && for pkg in python3.13 libffi bzip2 xz-utils; do \
        for version in $(apt-cache showsrc "$pkg" | sed -n 's/^Version: //p'); do \
            apt-get source --download-only "$pkg=$version" && break; done; done \
    && tar -xf python3.13_3.13.5.orig.tar.xz && mv Python-3.13.5 python \
    && for pkg in libffi bzip2 xz-utils; do \
        mkdir "${pkg%-utils}" && tar -xf "$(ls "$pkg"_*.orig.tar.* | grep -v '[.]asc$')" \
            --strip-components=1 -C "${pkg%-utils}"; done \
    && apt-get download libssl-dev/bookworm && dpkg-deb -x libssl-dev_*.deb /src/openssl-3.0 \
    && rm -rf /var/lib/apt/lists/*

# The rootfs the image is made of, and the libraries it ships that CPython links: OpenSSL and zlib
# (runtime files only: the link names are made here). OpenSSL's headers are Debian bookworm's 3.0,
# an API the rootfs's 3.3 libraries provide whole (trixie's 3.5 headers map some calls to 3.4
# functions); Alpine builds libcrypto without compression, Debian's headers say it has it.
# The kernel's headers, as Alpine's linux-headers package gives them. musl's loader finds these
# libraries when the new interpreter runs (ensurepip, during make install).
ADD alpine-minirootfs-3.20.3-x86_64.tar.gz /alpine/
RUN mkdir -p /opt/deps/bin /opt/deps/include /opt/deps/lib /opt/deps/kernel \
    && for lib in libssl.so.3 libcrypto.so.3 libz.so.1; do \
        ln -s "/alpine/lib/$lib" /opt/deps/lib/ && ln -s "$lib" "/opt/deps/lib/${lib%.so.*}.so"; done \
    && cp -r /src/openssl-3.0/usr/include/openssl /opt/deps/include/ \
    && cp /src/openssl-3.0/usr/include/x86_64-linux-gnu/openssl/*.h /opt/deps/include/openssl/ \
    && sed -i 's/^#define OPENSSL_CONFIGURATION_H$/&\n# define OPENSSL_NO_COMP/' \
        /opt/deps/include/openssl/configuration.h \
    && grep -q '^# define OPENSSL_NO_COMP' /opt/deps/include/openssl/configuration.h \
    && cp /usr/include/zlib.h /usr/include/zconf.h /opt/deps/include/ \
    && ln -s /usr/include/linux /usr/include/asm-generic /opt/deps/kernel/ \
    && ln -s /usr/include/x86_64-linux-gnu/asm /opt/deps/kernel/asm \
    && printf '%s\n' /opt/deps/lib /usr/lib/x86_64-linux-musl > /etc/ld-musl-x86_64.path
# musl-gcc with the kernel's headers, answering --print-multiarch with the musl triplet (configure
# checks it against the platform triplet; gcc would answer x86_64-linux-gnu). Its name says gcc:
# configure chooses the LTO flags by the compiler's name.
RUN printf '%s\n' '#!/bin/sh' \
        '[ "$1" = --print-multiarch ] && { echo x86_64-linux-musl; exit 0; }' \
        'exec musl-gcc -isystem /opt/deps/kernel "$@"' > /opt/deps/bin/x86_64-linux-musl-gcc \
    && chmod +x /opt/deps/bin/x86_64-linux-musl-gcc
ENV CC=/opt/deps/bin/x86_64-linux-musl-gcc

# libffi (ctypes, which the app imports), bzip2 and xz: static, linked into CPython's modules.
RUN cd /src/libffi && { [ -x configure ] || autoreconf -fi; } \
    && mkdir build && cd build && ../configure --prefix=/opt/deps --disable-shared --enable-static --with-pic --disable-docs \
        --disable-multi-os-directory \
    && make -j"$(nproc)" && make install
RUN cd /src/bzip2 && make -j"$(nproc)" libbz2.a CC="$CC" CFLAGS="-O2 -fPIC -D_FILE_OFFSET_BITS=64" \
    && cp libbz2.a /opt/deps/lib/ && cp bzlib.h /opt/deps/include/
RUN cd /src/xz && ./configure --prefix=/opt/deps --disable-shared --enable-static --with-pic \
        --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-lzma-links \
        --disable-scripts --disable-doc --disable-nls \
    && make -j"$(nproc)" && make install

# CPython, configured and built as the official Alpine image: shared libpython, LTO, ensurepip,
# a 1 MiB thread stack (musl's default is 128 KiB), frame pointers, stripped.
RUN cd /src/python \
    && ./configure --build=x86_64-linux-musl --prefix=/usr/local \
        --enable-option-checking=fatal --enable-shared --with-lto --with-ensurepip \
        --with-openssl=/opt/deps \
        CPPFLAGS="-I/opt/deps/include" LDFLAGS="-L/opt/deps/lib" \
    && EXTRA_CFLAGS="-DTHREAD_STACK_SIZE=0x100000 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer" \
    && make -j"$(nproc)" "EXTRA_CFLAGS=$EXTRA_CFLAGS" "LDFLAGS=-Wl,--strip-all" \
    && rm python \
    && make -j"$(nproc)" "EXTRA_CFLAGS=$EXTRA_CFLAGS" \
        "LDFLAGS=-Wl,--strip-all,-rpath='\$\$ORIGIN/../lib'" python \
    && make install \
    && find /usr/local -depth \
        \( \( -type d -a \( -name test -o -name tests -o -name idle_test \) \) \
        -o \( -type f -a \( -name '*.pyc' -o -name 'libpython*.a' \) \) \) -exec rm -rf '{}' + \
    && for src in idle3 pip3 pydoc3 python3 python3-config; do \
        ln -svT "$src" "/usr/local/bin/$(echo "$src" | tr -d 3)"; done

FROM scratch
ADD alpine-minirootfs-3.20.3-x86_64.tar.gz /
COPY --from=build /usr/local /usr/local
# The official image adds tzdata (apk); Debian's zone files are the same database.
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# TLS to PyPI is intercepted on these machines: pip and uv use this bundle.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The official image ships no bytecode for the standard library: the check writes none either.
RUN PYTHONDONTWRITEBYTECODE=1 python3 -c "import _hashlib, bz2, ctypes, lzma, ssl, zlib" \
    && PYTHONDONTWRITEBYTECODE=1 pip3 --version \
    && [ -z "$(find /usr/local -name '*.pyc' | head -n 1)" ]
CMD ["python3"]
