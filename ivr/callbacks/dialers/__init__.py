"""Placing a callback's outbound call through a gateway: one module per gateway's REST API."""
