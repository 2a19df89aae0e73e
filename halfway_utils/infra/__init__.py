"""Plumbing: paths, devices, the store and cache, parameters, plotting, the runner."""
