# Stand-in for ghcr.io/testssl/testssl.sh:3.2 (the TLS scanner), which cannot be pulled here:
# Debian's testssl.sh 3.2 with what it calls (openssl, hexdump, dig, ps), `testssl.sh` as the
# entry point as in the official image. The HTTPS tests scan the stack with it. Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends testssl.sh openssl bsdextrautils bind9-dnsutils procps \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
ENTRYPOINT ["testssl"]
