"""Card payments: card checks, sealing digits between webhooks, and the processor port.

The card number and CVV live in memory while a payment step runs and, between two webhooks of
a call, only as AES-GCM ciphertext in the call's state; what is kept afterwards is the brand,
the last four digits and the processor's reference (docs/security.md, "Card payments").
"""
