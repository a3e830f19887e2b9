"""The step graph of a flow: where each step can send the call, and what that graph allows.

Shared by the checks (reachability, loops that never wait for the caller) and the diagram, so
both read the same edges from the same flow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ivr.flow import model as m

DataPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Route:
    """One place a step sends the call: `label` is the outcome, menu key, or next/then/else."""

    label: str
    target: str
    path: DataPath


def step_routes(step: m.AnyStep, base: DataPath) -> list[Route]:
    """Every target written on a step, with the YAML path of each."""
    routes: list[Route] = []
    if isinstance(step, m.PlayStep | m.SetStep):
        routes.append(Route("next", step.next, (*base, "next")))
    if isinstance(step, m.DecideStep):
        for index, branch in enumerate(step.decide):
            routes.append(Route(f"if {index + 1}", branch.then, (*base, "decide", index, "then")))
        routes.append(Route("else", step.else_, (*base, "else")))
    if isinstance(step, m.MenuStep):
        for key, target in step.menu.choices.items():
            routes.append(Route(key, target, (*base, "menu", "choices", key)))
    outcomes: Mapping[str, str] = getattr(step, "outcomes", {})
    for outcome, target in outcomes.items():
        routes.append(Route(outcome, target, (*base, "outcomes", outcome)))
    return routes


def prompt_refs(flow: m.FlowFile) -> Iterator[tuple[str, DataPath]]:
    """Every prompt id the flow names, with its YAML path."""
    for section, index, step in flow.all_steps():
        base: DataPath = (section, index)
        if isinstance(step, m.AskStep | m.MenuStep):
            spec = step.ask if isinstance(step, m.AskStep) else step.menu
            kind = "ask" if isinstance(step, m.AskStep) else "menu"
            yield spec.prompt, (*base, kind, "prompt")
            for key in ("retry_prompts", *m.RETRY_EVENTS):
                for number, prompt in enumerate(getattr(spec, key, ())):
                    yield prompt, (*base, kind, key, number)
        elif isinstance(step, m.PaymentStep):
            pay = step.payment
            for key in ("card_number_prompt", "expiry_prompt", "cvv_prompt", "postcode_prompt"):
                prompt_id = getattr(pay, key)
                if prompt_id is not None:
                    yield prompt_id, (*base, "payment", key)
            for key in ("no_input", "invalid"):
                for number, prompt in enumerate(getattr(pay, key)):
                    yield prompt, (*base, "payment", key, number)
        elif isinstance(step, m.PlayStep):
            for number, prompt in enumerate(step.play):
                yield prompt, (*base, "play", number)
        elif isinstance(step, m.RouteStep) and step.say:
            yield step.say, (*base, "say")
        elif isinstance(step, m.HangupStep) and step.hangup.say:
            yield step.hangup.say, (*base, "hangup", "say")
    for status, result in flow.results.items():
        if result.say:
            yield result.say, ("results", status, "say")
    for key in m.RETRY_EVENTS:
        for number, prompt in enumerate(getattr(flow.defaults, key)):
            yield prompt, ("defaults", key, number)


def flow_returns(flow: m.FlowFile) -> set[str]:
    """The values a sub-flow can return: `return` steps and `return.X` targets."""
    values = {step.return_ for _, _, step in flow.all_steps() if isinstance(step, m.ReturnStep)}
    for section, index, step in flow.all_steps():
        for route in step_routes(step, (section, index)):
            if route.target.startswith("return."):
                values.add(route.target.removeprefix("return."))
    return values


def reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    """Steps reachable from `start` (itself included)."""
    seen = {start}
    stack = [start]
    while stack:
        for following in edges.get(stack.pop(), ()):
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen


def loops_without_wait(edges: Mapping[str, set[str]], waiting: set[str]) -> list[set[str]]:
    """Strongly connected groups of steps that loop and hold no step waiting for the caller."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[set[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                loops = len(group) > 1 or node in edges.get(node, ())
                if loops and not group & waiting:
                    groups.append(group)
    return groups
