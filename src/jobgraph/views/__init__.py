"""Views of the engine: listings, reports, drawings, graph queries, live progress."""
