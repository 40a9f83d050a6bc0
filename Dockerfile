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

# Locust puts the working directory on sys.path, so `import plugins` works
# from locustfiles/. SCENARIO picks the locustfile (default: the flash sale).
ENV PYTHONUNBUFFERED=1 \
    LOCUST_LOCUSTFILE=locustfiles/flash_sale.py
EXPOSE 8089 5557
ENTRYPOINT ["locust"]
