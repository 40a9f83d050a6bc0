"""The database engines: the two drivers behind one interface (drivers.py), and
what each engine needs under its own name.
"""
