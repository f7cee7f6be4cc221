# Stand-in for the official haproxy image, which cannot be pulled here (no registry): Debian's
# haproxy, laid out like the official image (configuration in /usr/local/etc/haproxy, master-worker
# mode in the foreground, soft stop on SIGUSR1, and busybox's wget for healthchecks, as the Alpine
# image has). Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy busybox \
    && busybox --list | grep -qx wget && ln -s /bin/busybox /usr/local/bin/wget \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
    && mkdir -p /usr/local/etc/haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
