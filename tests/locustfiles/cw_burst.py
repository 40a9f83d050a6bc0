"""One burst of request events: 40 operation names x 5000 distinct latencies (microsecond steps).

For the CloudWatch limits test: far more than fits in one PutMetricData call,
so the plugin must split into calls within every AWS limit and lose nothing.
"""

from locust import User, constant, events, task

from plugins.aws import cloudwatch  # noqa: F401  (registers the CloudWatch listeners)

OPERATIONS = 40
VALUES = 5000


class Burst(User):
    wait_time = constant(3600)

    @task
    def burst(self):
        fire = events.request.fire
        for op in range(OPERATIONS):
            name = f"op_{op:02d}"
            for i in range(VALUES):
                fire(request_type="BURST", name=name, response_time=1.0 + i / 1000.0,
                     response_length=0, exception=None, context={})
