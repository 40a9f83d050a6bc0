# One image for the master and every worker: Locust, the suite's drivers,
# the scenarios (locustfiles/) and the plugins.
#
#   docker build -t dbswarm:locust-2.47.0 .
#
# BASE_IMAGE must carry the Locust version pinned in requirements.txt
# (tests/test_deploy_files.py checks it), so a run in a container equals a
# run from a checkout.
ARG BASE_IMAGE=locustio/locust:2.47.0
FROM ${BASE_IMAGE}

USER root
WORKDIR /opt/dbswarm

COPY requirements.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt

COPY locustfiles/ locustfiles/
COPY plugins/ plugins/

# A fixed numeric non-root user, so Kubernetes' runAsNonRoot can verify it;
# reports/ is where headless runs write (mount a volume there).
RUN groupadd --gid 10001 dbswarm \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /opt/dbswarm dbswarm \
    && mkdir -p /opt/dbswarm/reports \
    && chown dbswarm:dbswarm /opt/dbswarm/reports
USER 10001:10001

# LOCUST_LOCUSTFILE picks the locustfile (default: the flash sale). Your own
# scenario needs no new image: mount its folder at /mnt/locust and set
# LOCUST_LOCUSTFILE=/mnt/locust/<file>.py (docs/scale-out.md, "Your own
# scenario"); PYTHONPATH lets it `import plugins` from any directory.
ENV PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/dbswarm \
    LOCUST_LOCUSTFILE=locustfiles/flash_sale.py
# 8089 web UI, 5557 workers, 9646 /metrics when --prometheus-port 9646 (the k8s manifests' choice).
EXPOSE 8089 5557 9646
ENTRYPOINT ["locust"]
