# Stand-in for the official docker:dind image, a Swarm node of the swarm tests: Debian's Docker
# Engine and CLI, started as `dockerd ...` in a privileged container. Test scaffolding only.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker.io docker-cli iptables ca-certificates \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
# The engine pulls from the test registry only; the host's CA bundle, as the other stand-ins have.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# On a cgroup v2 host, dockerd can enable the controllers for its containers only once this
# container's own processes have left the root cgroup (what docker:dind's `dind` script does).
RUN printf '%s\n' '#!/bin/sh' 'set -e' \
        'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then' \
        '    mkdir -p /sys/fs/cgroup/init' \
        '    xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :' \
        "    sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control" \
        'fi' 'exec "$@"' > /usr/local/bin/dind \
    && chmod +x /usr/local/bin/dind
VOLUME /var/lib/docker
ENTRYPOINT ["dind"]
CMD ["dockerd"]
