"""Tell from two samples whether another instance took over the endpoint.

Aurora (Serverless v1, failover, blue/green) scales by swapping the instance
behind the endpoint: the client sees a new ``@@hostname`` or server id, an
uptime that starts again, or a new ``max_connections``. Any of them is one
scaling event; several changing at once are still one event (one swap). The
previous sample is the last one that answered, so a swap while the database
was unreachable is reported once, when it answers again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Uptime may be read a little earlier in one sample than in the next; allow for it.
UPTIME_SLACK_S = 1.0


@dataclass
class ScalingEvent:
    time: float
    reasons: list[str]
    changes: dict = field(default_factory=dict)  # field -> {"old": .., "new": ..}
    gap_s: float = 0.0  # seconds without an answer just before the event

    def describe(self) -> str:
        parts = [f"{key} {c['old']} -> {c['new']}" for key, c in self.changes.items()]
        gap = f" after {self.gap_s:.1f}s unreachable" if self.gap_s else ""
        return f"scaling event ({', '.join(self.reasons)}): {'; '.join(parts)}{gap}"

    def as_dict(self) -> dict:
        return asdict(self)


def _changed(prev, cur, key) -> bool:
    a, b = prev.get(key), cur.get(key)
    return a is not None and b is not None and a != b


def detect(prev: dict | None, cur: dict, gap_s: float = 0.0) -> ScalingEvent | None:
    """The event between ``prev`` and ``cur`` (samples), or None when it is the same instance."""
    if prev is None:
        return None
    reasons, changes = [], {}
    for key, reason in (("host", "new host"), ("server_id", "new server id")):
        if _changed(prev, cur, key):
            reasons.append(reason)
            changes[key] = {"old": prev[key], "new": cur[key]}
    a, b = prev.get("uptime_s"), cur.get("uptime_s")
    if a is not None and b is not None and b + UPTIME_SLACK_S < a:
        reasons.append("uptime went back")
        changes["uptime_s"] = {"old": a, "new": b}
    if _changed(prev, cur, "max_connections"):
        reasons.append("max_connections changed")
        changes["max_connections"] = {"old": prev["max_connections"], "new": cur["max_connections"]}
    if not reasons:
        return None
    return ScalingEvent(time=cur["time"], reasons=reasons, changes=changes, gap_s=round(gap_s, 3))
