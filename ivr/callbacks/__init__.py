"""Callbacks with reverse ID&V: the company proves itself by reading back the customer's secret.

The app books a callback (api.py) into the journal database (store.py); the secret is kept
encrypted (crypto.py); a scheduler (scheduler.py) dials due callbacks through a gateway
(dialers/); the callback flow reads the secret back with the gateway's own speech.
"""
