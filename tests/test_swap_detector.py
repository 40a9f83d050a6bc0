"""Swap detection and HDR merging as pure functions (no database needed)."""

from hdrh.histogram import HdrHistogram

from plugins.observe import hdr_histograms
from plugins.observe.swap_detector import detect


def sample(t, **kw):
    base = {"time": t, "host": "ip-10-2-56-105", "server_id": None, "uptime_s": 157, "max_connections": 90}
    return {**base, **kw}


def test_same_instance_is_no_event():
    assert detect(None, sample(0)) is None
    assert detect(sample(0), sample(5, uptime_s=162)) is None
    # Uptime read a little early in the next sample is not a restart.
    assert detect(sample(0, uptime_s=162.4), sample(5, uptime_s=162.0)) is None


def test_bigger_instance_taking_over_is_one_event_with_every_change():
    # The article's first scaling point: new hostname, uptime reset, max_connections doubled.
    event = detect(sample(0, uptime_s=600), sample(5, host="ip-10-2-34-7", uptime_s=157, max_connections=180), 2.5)
    assert event.reasons == ["new host", "uptime went back", "max_connections changed"]
    assert event.changes == {
        "host": {"old": "ip-10-2-56-105", "new": "ip-10-2-34-7"},
        "uptime_s": {"old": 600, "new": 157},
        "max_connections": {"old": 90, "new": 180},
    }
    assert event.time == 5 and event.gap_s == 2.5
    assert "max_connections 90 -> 180" in event.describe()


def test_each_sign_alone_is_an_event():
    assert detect(sample(0), sample(1, host="other")).reasons == ["new host"]
    assert detect(sample(0, server_id="a"), sample(1, server_id="b")).reasons == ["new server id"]
    assert detect(sample(0, uptime_s=300), sample(1, uptime_s=3)).reasons == ["uptime went back"]
    assert detect(sample(0), sample(1, max_connections=270)).reasons == ["max_connections changed"]


def test_unknown_values_are_not_changes():
    assert detect(sample(0, server_id=None, max_connections=None), sample(1, server_id="x", max_connections=5)) is None


def test_worker_histograms_merge_exactly():
    a, b = hdr_histograms.new(), hdr_histograms.new()
    for us in (150, 160, 170):
        a.record_value(us)
    for us in (900, 12_000):
        b.record_value(us)
    merged = {}
    for hist in (a, b):
        hdr_histograms.add(merged, ("MySQL", "op"), HdrHistogram.decode(hist.encode()))
    summary = hdr_histograms.summary(merged[("MySQL", "op")])
    assert summary["count"] == 5
    assert 169 <= summary["p50"] <= 171  # the 3rd of 5 values
    assert 11_990 <= summary["max"] <= 12_010
