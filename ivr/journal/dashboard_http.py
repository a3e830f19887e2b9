"""The manager's dashboard and the flow view over HTTP (JSON for the page, SVG for the flows).

Routes sit beside the journal's own (`ivr.journal.http`) and behind the same key:

- `/dashboard/overview`: headline figures against the previous period, funnel, trend per day;
- `/dashboard/calls`: recent calls, paged and searchable, live ones marked;
- `/dashboard/faults`: calls routed on by a fault in the last hour, by cause, with warnings;
- `/calls/{call_id}/story`: the journey in plain language;
- `/flows`, `/flows/{flow_id}` (page) and `/flows/{flow_id}/diagram.svg` (the flow with counts).

Every filter is the reports' (`from`, `to`, `service_line`, `flow`), so a figure on the page can
be checked against `ivr report` with the same arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol

from aiohttp import web

from ivr.flow.model import FlowFile
from ivr.flow.svg import render_svg
from ivr.journal import dashboard_data as data
from ivr.journal.hub import JournalHub
from ivr.journal.narrate import Narrator, NoWords, PromptWords
from ivr.journal.reports import run_report
from ivr.journal.store import JournalStore, ReportFilter, parse_day

StoreProvider = Callable[[], JournalStore]


class FlowSource(PromptWords, Protocol):
    """The published flows the server runs, and the words of their prompts."""

    def flows(self) -> dict[str, FlowFile]:
        """The current version of each flow, by flow id."""
        ...


class NoFlows(NoWords):
    def flows(self) -> dict[str, FlowFile]:
        return {}


def report_filter(request: web.Request) -> ReportFilter:
    q = request.query
    try:
        return ReportFilter(
            from_day=parse_day(q["from"]) if q.get("from") else None,
            to_day=parse_day(q["to"]) if q.get("to") else None,
            service_line=q.get("service_line") or None,
            flow=q.get("flow") or None,
        )
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None


def _int(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not a whole number: {text!r}\n") from None


class DashboardViews:
    def __init__(self, store: StoreProvider, hub: JournalHub, flows: FlowSource | None) -> None:
        self._store = store
        self.hub = hub
        self.flow_source: FlowSource = flows if flows is not None else NoFlows()

    @property
    def store(self) -> JournalStore:
        return self._store()

    def table(self) -> list[tuple[str, Callable[[web.Request], Any]]]:
        return [
            ("/dashboard/overview", self.overview),
            ("/dashboard/calls", self.calls),
            ("/dashboard/faults", self.faults),
            ("/calls/{call_id}/story", self.story),
            ("/dashboard.css", self.asset),
            ("/dashboard.js", self.asset),
            ("/flow.js", self.asset),
            ("/flows", self.flow_list),
            ("/flows/{flow_id}/diagram.svg", self.diagram),
            ("/flows/{flow_id}", self.flow_page),
        ]

    async def overview(self, request: web.Request) -> web.Response:
        flt = report_filter(request)
        period = data.Period.of(flt)
        scoped = period.applied(flt)
        funnel = await run_report(self.store, "recognition", scoped)
        options = await self.store.fetch(
            "SELECT DISTINCT service_line, flow_id FROM call_hourly ORDER BY 1, 2", {}
        )
        return web.json_response(
            {
                "headline": await data.headline(self.store, flt),
                "funnel": funnel.records(),
                "trend": await data.trend(self.store, flt),
                "losses": await data.losses(self.store, flt),
                "service_lines": sorted({r[0] for r in options if r[0]}),
                "flows": sorted({r[1] for r in options if r[1]} | set(self.flow_source.flows())),
            }
        )

    async def calls(self, request: web.Request) -> web.Response:
        flt = report_filter(request)
        try:
            page = await data.recent_calls(
                self.store,
                flt,
                search=request.query.get("q", ""),
                outcome=request.query.get("outcome", ""),
                step=request.query.get("step", ""),
                page=_int(request, "page", 1),
                size=_int(request, "size", data.PAGE_SIZE),
            )
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        live = {c.call_id for c in self.hub.active()}
        for call in page["calls"]:
            call["live"] = call["call_id"] in live
        return web.json_response(page)

    async def faults(self, request: web.Request) -> web.Response:
        window = max(60, min(_int(request, "window_s", data.FAULT_WINDOW_S), 86400))
        return web.json_response(
            await data.faults(self.store, report_filter(request), window_s=window)
        )

    async def story(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        live = self.hub.journey(call_id)
        records = live if live is not None else await self.store.journey(call_id)
        if not records:
            raise web.HTTPNotFound(text="no such call\n")
        lines = Narrator(self.flow_source).lines(records)
        return web.json_response(
            {
                "call_id": call_id,
                "active": live is not None,
                "lines": [line.as_dict() for line in lines],
            }
        )

    async def asset(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[-1]
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        text = resources.files("ivr.journal").joinpath(name).read_text("utf-8")
        return web.Response(text=text, content_type=kind)

    async def flow_list(self, request: web.Request) -> web.Response:
        flows = self.flow_source.flows()
        return web.json_response(
            {
                "flows": [
                    {"id": flow_id, "version": f.flow.version, "description": f.flow.description}
                    for flow_id, f in sorted(flows.items())
                ]
            }
        )

    def _flow(self, request: web.Request) -> FlowFile:
        flow_id = request.match_info["flow_id"]
        flow = self.flow_source.flows().get(flow_id)
        if flow is None:
            raise web.HTTPNotFound(text=f"no published flow {flow_id!r}\n")
        return flow

    async def diagram(self, request: web.Request) -> web.Response:
        flow = self._flow(request)
        flt = report_filter(request)
        scoped = data.Period.of(flt).applied(flt)
        scoped = ReportFilter(scoped.from_day, scoped.to_day, scoped.service_line, flow.flow.id)
        counts = await data.flow_counts(self.store, scoped)
        svg = render_svg(flow, counts)
        return web.Response(text=svg, content_type="image/svg+xml")

    async def flow_page(self, request: web.Request) -> web.Response:
        self._flow(request)
        page = resources.files("ivr.journal").joinpath("flow.html").read_text("utf-8")
        return web.Response(text=page, content_type="text/html")
