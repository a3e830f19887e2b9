"""The call pipeline: one gateway delivery in, one document out, for every transport.

HTTP (ivr.web), WebSocket and later SIP transports hand a `Delivery` (or an already parsed
`Inbound`) to `CallPipeline` and send back the `Reply`'s document; none of this package knows
a web framework.
"""

from __future__ import annotations

from ivr.calls.pipeline import Amended, CallPipeline, Delivery, JournalSink, Reply

__all__ = ["Amended", "CallPipeline", "Delivery", "JournalSink", "Reply"]
