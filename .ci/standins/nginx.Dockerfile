# Stand-in for the official nginx image, which cannot be pulled here (no registry): Debian's nginx,
# laid out like the official image (logs to stdout/stderr, and wget for healthchecks, as the
# Alpine image's busybox has). Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light wget \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /etc/nginx/sites-enabled/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
