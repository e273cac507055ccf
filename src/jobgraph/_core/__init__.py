"""The engine room: jobs, records, events, errors, policies, the run loop, the scheduler.

Private: the public names are re-exported by :mod:`jobgraph` and :mod:`jobgraph.lowlevel`.
"""
