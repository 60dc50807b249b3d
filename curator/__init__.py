"""Curator: finds news and research on CCTV in policing for an editor to approve and publish."""

__version__ = "0.1.0"
