"""The run itself: who does what (roles), the checks before load (preflight),
stopping cleanly (drain), worker-to-master aggregates and business counters,
arrival rate, load shapes, thresholds.
"""
