# Stand-in for the official registry image (the distribution registry): Debian's docker-registry,
# serving plain HTTP on :5000 with no login, as `registry:2` does by default. Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker-registry \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
    && printf '%s\n' 'version: 0.1' 'storage:' '  filesystem:' '    rootdirectory: /var/lib/registry' \
        'http:' '  addr: :5000' > /etc/docker/registry/config.yml
VOLUME /var/lib/registry
EXPOSE 5000
CMD ["docker-registry", "serve", "/etc/docker/registry/config.yml"]
