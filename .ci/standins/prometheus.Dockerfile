# Stand-in for the official Prometheus image, which cannot be pulled here (no registry): Debian's
# prometheus (promtool comes with it), laid out like the official image (configuration in
# /etc/prometheus, data in /prometheus, user nobody, prometheus as entrypoint, and busybox's wget
# for healthchecks, as the official image has). Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus busybox \
    && busybox --list | grep -qx wget && ln -s /bin/busybox /usr/local/bin/wget \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
    && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
