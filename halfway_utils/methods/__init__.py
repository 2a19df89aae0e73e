"""Reusable algorithms: boundary search, convex-hull distance, SOM, attacks, neighbours."""
