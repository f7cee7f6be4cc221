# Stand-in for ghcr.io/letsencrypt/pebble (Let's Encrypt's test ACME server), which cannot be pulled
# here: Debian's pebble, its binary at /app as in the official image. The HTTPS tests run it as the
# stack's ACME directory. Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends pebble \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
    && ln -s /usr/bin/pebble /app
ENTRYPOINT ["/app"]
