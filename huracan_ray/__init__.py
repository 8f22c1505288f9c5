"""Huracan on Ray."""
