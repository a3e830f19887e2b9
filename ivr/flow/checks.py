"""Cross-reference and graph checks of a flow that passed the schema: all problems, one pass.

The schema says each value has the right form; these checks say the flow makes sense: every
target leads somewhere, every outcome a step can produce is routed, operations, prompts, routes
and called flows exist, conditions are valid expressions, every step can be reached and no loop
can spin without waiting for the caller. Each problem points at the YAML node at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.config import AppConfig
from ivr.fields import FieldSpec
from ivr.flow import model as m
from ivr.flow.expressions import NAMESPACES, ExpressionError, parse_expression
from ivr.flow.graph import flow_returns, loops_without_wait, prompt_refs, reachable, step_routes
from ivr.flow.operations import BUILTIN_SPECS, ERROR_OUTCOME, OperationSpec
from ivr.flow.problems import Problem, Severity, did_you_mean
from ivr.flow.targets import (
    RESERVED_STEP_IDS,
    TargetError,
    TargetRef,
    resolve_target,
    step_positions,
)
from ivr.flow.yaml_loader import Path as DataPath
from ivr.flow.yaml_loader import YamlDocument
from ivr.prompts.catalog import PromptCatalog

_TARGET_WORDS = ("next", "hangup", *m.SECTIONS)


@dataclass(frozen=True)
class ValidationContext:
    """What a flow is checked against; a None catalogue or config skips those checks."""

    catalog: PromptCatalog | None = None
    config: AppConfig | None = None
    operations: Mapping[str, OperationSpec] = field(default_factory=lambda: BUILTIN_SPECS)
    flows: Mapping[str, m.FlowFile] = field(default_factory=dict)  # other flows, for call_flow
    # the directory's security questions; None: those of `config` (config/directory.yaml)
    fields: Mapping[str, FieldSpec] | None = None

    def known_fields(self) -> Mapping[str, FieldSpec] | None:
        if self.fields is not None:
            return self.fields
        return self.config.fields if self.config is not None else None


class _Checker:
    def __init__(self, flow: m.FlowFile, doc: YamlDocument, context: ValidationContext) -> None:
        self.flow = flow
        self.doc = doc
        self.context = context
        self.problems: list[Problem] = []
        self.step_ids = [step.step for _, _, step in flow.all_steps()]
        self.positions = step_positions(flow)  # once: resolving each target must not rescan
        self.edges: dict[str, set[str]] = {step_id: set() for step_id in self.step_ids}
        self.graph_incomplete = False
        self.route_names = context.config.route_names() if context.config else None
        if self.route_names is not None:  # names the flow's operations set for the call
            for _, _, step in flow.all_steps():
                spec = context.operations.get(getattr(step, "uses", None) or "")
                if spec is not None:
                    self.route_names |= spec.routes
        self.variables = {
            name
            for _, _, step in flow.all_steps()
            if isinstance(step, m.SetStep)
            for name in step.set
        }
        if any(isinstance(step, m.PaymentStep) for _, _, step in flow.all_steps()):
            self.variables |= set(m.PAYMENT_VARIABLES)

    def add(
        self,
        path: DataPath,
        code: str,
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        severity: Severity = "error",
        column_offset: int = 0,
    ) -> None:
        line, column = self.doc.key_position(path) if key else self.doc.position(path)
        self.problems.append(
            Problem(self.doc.filename, line, column + column_offset, code, message, hint, severity)
        )

    def run(self, repaired: set[str]) -> list[Problem]:
        self.check_step_ids()
        self.on_error_step: str | None = None
        on_error = self.flow.defaults.on_error
        if on_error == "next":
            self.add(
                ("defaults", "on_error"),
                "bad-target",
                "'next' means nothing for on_error",
                "name a step, a result, a route or 'hangup'",
            )
        elif on_error is not None:
            ref = self.resolve("steps", 0, on_error, ("defaults", "on_error"))
            self.on_error_step = ref.name if ref is not None and ref.kind == "step" else None
        for section, index, step in self.flow.all_steps():
            base: DataPath = (section, index)
            self.check_routes(section, index, step, base)
            self.check_outcomes(step, base)
            self.check_conditions(step, base)
            if isinstance(step, m.RouteStep):
                self.check_route_name(step.route, (*base, "route"))
            if isinstance(step, m.AskStep):
                self.check_dont_have_key(step, base)
                self.check_field(step, base)
            if isinstance(step, m.AskStep) and step.ask.secret and step.uses is None:
                # kept as a call variable it would sit in the session store: secrets go
                # straight to the operation that checks them and are never kept
                self.add(
                    (*base, "ask", "secret"),
                    "secret-kept",
                    "a secret answer must be checked by an operation, not kept in the call",
                    "add 'uses:' (e.g. verify.answer) to this step",
                )
        for status, result in self.flow.results.items():
            self.check_route_name(result.route, ("results", status, "route"))
        if "flow" not in repaired:
            self.check_prompts()
        if "steps" not in repaired:
            self.check_graph()
        return self.problems

    def check_dont_have_key(self, step: m.AskStep, base: DataPath) -> None:
        key = step.ask.dont_have_key
        if key is None or not key.isdigit():
            return
        self.add(
            (*base, "ask", "dont_have_key"),
            "dont-have-digit",
            f"'{key}' can begin an answer: it means \"I don't have it\" only when it is the "
            "whole entry (followed by the end key or a pause), so callers must be told so",
            "use a key no answer contains, such as '*'",
            severity="warning",
        )

    def check_field(self, step: m.AskStep, base: DataPath) -> None:
        """`with: {field}` names a field of the directory, and the ask fits its answers."""
        name = step.with_.get("field")
        fields = self.context.known_fields()
        if step.uses != "verify.answer" or not isinstance(name, str) or fields is None:
            return
        spec = fields.get(name)
        if spec is None:
            self.add(
                (*base, "with", "field"),
                "unknown-field",
                f"the directory has no field '{name}'",
                did_you_mean(name, fields) or _takes(fields, "fields"),
            )
            return
        digits = step.ask.digits
        path: DataPath = (*base, "ask", "digits")
        if spec.kind == "partial":
            if (digits.min, digits.max) != (spec.ask, spec.ask):
                self.add(
                    path,
                    "digits-mismatch",
                    f"'{name}' is asked {spec.ask} of its {spec.digits.max} digits at a time, "
                    f"but this step takes {_span(digits.min, digits.max)}",
                    f"write digits: {{min: {spec.ask}, max: {spec.ask}}}",
                )
        elif digits.min > spec.digits.min or digits.max < spec.digits.max:
            self.add(
                path,
                "digits-mismatch",
                f"'{name}' answers have {spec.length_text}, but this step takes "
                f"{_span(digits.min, digits.max)}: some customers could never answer",
                f"write digits: {{min: {spec.digits.min}, max: {spec.digits.max}}}",
            )
        self.check_position_prompts(step, base, spec)

    def check_position_prompts(self, step: m.AskStep, base: DataPath, spec: FieldSpec) -> None:
        """A partial answer's prompts must say which digits; a full answer's must not."""
        catalog = self.context.catalog
        if catalog is None:
            return
        partial = spec.kind == "partial"
        for key in ("prompt", "retry_prompts", *m.RETRY_EVENTS):
            value = getattr(step.ask, key)
            ids = [value] if isinstance(value, str) else list(value)
            for number, prompt in enumerate(ids):
                path: DataPath = (
                    (*base, "ask", key) if key == "prompt" else (*base, "ask", key, number)
                )
                for language in self.flow.flow.languages:
                    if not catalog.has(prompt, language):
                        continue  # reported as unknown-prompt
                    reads = "positions" in catalog.get(prompt, language).placeholders
                    if partial and not reads:
                        self.add(
                            path,
                            "prompt-positions",
                            f"prompt '{prompt}' does not say which digits of '{spec.name}' "
                            "to key in",
                            f"put {{positions}} in its {language} text, e.g. 'the {{positions}} "
                            f"digits of your {spec.label.lower()}'",
                        )
                    elif not partial and reads:
                        self.add(
                            path,
                            "prompt-positions",
                            f"prompt '{prompt}' reads positions, but '{spec.name}' is asked "
                            "in full",
                            "remove {positions} from its text, or use a partial field",
                        )

    def check_step_ids(self) -> None:
        first: dict[str, DataPath] = {}
        for section, index, step in self.flow.all_steps():
            path: DataPath = (section, index, "step")
            if step.step in RESERVED_STEP_IDS:
                self.add(
                    path,
                    "reserved-step-id",
                    f"'{step.step}' is a reserved word, not a step id",
                    f"rename it, e.g. '{step.step}_step'",
                )
            if step.step in first:
                line = self.doc.position(first[step.step])[0]
                self.add(
                    path,
                    "duplicate-step",
                    f"step '{step.step}' is already defined at line {line}",
                    "give each step its own id",
                )
            else:
                first[step.step] = path

    def resolve(self, section: str, index: int, target: str, path: DataPath) -> TargetRef | None:
        try:
            ref = resolve_target(self.flow, section, index, target, self.positions)
        except TargetError as error:
            self.graph_incomplete = True  # an edge is missing: reachability would mislead
            if error.message.startswith("no step named"):
                hint = did_you_mean(target, [*self.step_ids, *_TARGET_WORDS]) or error.hint
                self.add(path, "unknown-step", error.message, hint)
            else:
                self.add(path, "bad-target", error.message, error.hint)
            return None
        if ref.kind == "result" and ref.name not in self.flow.results:
            self.add(
                path,
                "missing-result",
                f"'{target}' is used but results has no '{ref.name}'",
                f"add '{ref.name}:' under results",
            )
        if ref.kind == "route":
            self.check_route_name(ref.name, path)
        return ref

    def check_routes(self, section: str, index: int, step: m.AnyStep, base: DataPath) -> None:
        for route in step_routes(step, base):
            ref = self.resolve(section, index, route.target, route.path)
            if ref is not None and ref.kind == "step":
                self.edges[step.step].add(ref.name)
        if step.skip_if is not None:
            try:
                ref = resolve_target(self.flow, section, index, "next")
            except TargetError:
                self.add(
                    (*base, "skip_if"),
                    "bad-target",
                    "when skipped, this last step of its list leads nowhere",
                    "add a step after it, or remove skip_if",
                )
                return
            if ref.kind == "step":
                self.edges[step.step].add(ref.name)

    def check_route_name(self, name: str, path: DataPath) -> None:
        if self.route_names is None or name in self.route_names:
            return
        self.add(
            path,
            "unknown-route",
            f"no route named '{name}'",
            did_you_mean(name, self.route_names) or "routes are defined in config/routes.yaml",
        )

    def operation(self, step: m.AskStep | m.OperationStep, base: DataPath) -> OperationSpec | None:
        assert step.uses is not None
        spec = self.context.operations.get(step.uses)
        if spec is None:
            self.add(
                (*base, "uses"),
                "unknown-operation",
                f"no operation named '{step.uses}'",
                did_you_mean(step.uses, self.context.operations),
            )
            return None
        if spec.takes_input and isinstance(step, m.OperationStep):
            self.add(
                (*base, "uses"),
                "input-mismatch",
                f"'{step.uses}' needs the caller's digits",
                "add an 'ask:' to this step",
            )
        if not spec.takes_input and isinstance(step, m.AskStep):
            self.add(
                (*base, "uses"),
                "input-mismatch",
                f"'{step.uses}' does not take the caller's digits",
                "remove 'ask:' or use a separate ask step",
            )
        given = set(step.with_)
        for param in sorted(spec.required_params - given):
            self.add(
                (*base, "with") if (*base, "with") in self.doc.values else (*base, "uses"),
                "missing-param",
                f"'{step.uses}' needs the parameter '{param}'",
                f"add with: {{{param}: ...}}",
            )
        for param, allowed in spec.param_values.items():
            value = step.with_.get(param)
            if value is not None and str(value) not in allowed:
                self.add(
                    (*base, "with", param),
                    "bad-value",
                    f"'{value}' is not a value of '{param}'",
                    "use one of: " + ", ".join(sorted(allowed)),
                )
        for param in sorted(given - spec.required_params - spec.optional_params):
            options = spec.required_params | spec.optional_params
            self.add(
                (*base, "with", param),
                "unknown-param",
                f"'{step.uses}' takes no parameter '{param}'",
                did_you_mean(param, options) or _takes(options),
                key=True,
            )
        return spec

    def outcome_sets(self, step: m.AnyStep, base: DataPath) -> tuple[set[str], set[str]] | None:
        """(outcomes to route, outcomes that are retried); None when they cannot be known."""
        if isinstance(step, m.AskStep):
            extra = {"max_attempts"} | ({"dont_have"} if step.ask.dont_have_key else set())
            if step.uses is None:
                if step.with_:
                    self.add(
                        (*base, "with"),
                        "unknown-param",
                        "'with' needs an operation in 'uses'",
                        key=True,
                    )
                return {"collected"} | extra, set()
            spec = self.operation(step, base)
            return (set(spec.outcomes) | extra, set(spec.retry_outcomes)) if spec else None
        if isinstance(step, m.OperationStep):
            spec = self.operation(step, base)
            return (set(spec.outcomes), set(spec.retry_outcomes)) if spec else None
        if isinstance(step, m.MenuStep):
            return {"max_attempts"}, set()
        if isinstance(step, m.PaymentStep):
            return set(m.PAYMENT_OUTCOMES), set()
        if isinstance(step, m.CallFlowStep):
            called = self.context.flows.get(step.call_flow)
            if called is None:
                self.add(
                    (*base, "call_flow"),
                    "unknown-flow",
                    f"no flow with id '{step.call_flow}'",
                    did_you_mean(step.call_flow, self.context.flows)
                    or "validate the flows together: ivr validate flows/",
                )
                return None
            return flow_returns(called), set()
        return set(), set()

    def check_outcomes(self, step: m.AnyStep, base: DataPath) -> None:
        sets = self.outcome_sets(step, base)
        if sets is None:
            return
        required, retried = sets
        routed: Mapping[str, str] = getattr(step, "outcomes", {})
        for outcome in routed:
            if outcome in required or outcome == "hangup":
                continue
            path = (*base, "outcomes", outcome)
            if outcome in retried:
                self.add(
                    path,
                    "retried-outcome",
                    f"'{outcome}' is retried, not routed: the caller is asked again",
                    "route 'max_attempts' for when the attempts run out",
                    key=True,
                )
            else:
                self.add(
                    path,
                    "unknown-outcome",
                    f"step '{step.step}' never has the outcome '{outcome}'",
                    did_you_mean(outcome, required) or _takes(required, "outcomes"),
                    key=True,
                )
        on_error = self.flow.defaults.on_error
        for outcome in sorted(required - set(routed)):
            if outcome == ERROR_OUTCOME and on_error is not None:
                if self.on_error_step is not None:
                    self.edges[step.step].add(self.on_error_step)
                continue
            path = (*base, "outcomes") if routed else (*base, "step")
            self.add(
                path,
                "outcome-not-routed",
                f"step '{step.step}' does not route the outcome '{outcome}'",
                f"add '{outcome}: <target>' under outcomes",
                key=True,
            )

    def check_conditions(self, step: m.AnyStep, base: DataPath) -> None:
        if step.skip_if is not None:
            self.check_expression(step.skip_if, (*base, "skip_if"))
        if isinstance(step, m.DecideStep):
            for index, branch in enumerate(step.decide):
                self.check_expression(branch.if_, (*base, "decide", index, "if"))
        if isinstance(step, m.SetStep):
            for name, value in step.set.items():
                if isinstance(value, str):
                    self.check_expression(value, (*base, "set", name))
        if isinstance(step, m.PaymentStep):
            self.check_payment(step, base)

    def check_payment(self, step: m.PaymentStep, base: DataPath) -> None:
        """The amount and currency: a value, or an expression over what the call knows."""
        spec = step.payment
        if isinstance(spec.amount, str):
            self.check_expression(spec.amount, (*base, "payment", "amount"))
        currency = spec.currency
        if not re.fullmatch(m.CURRENCY_PATTERN, currency):
            if currency.isalpha() and len(currency) == 3:
                self.add(
                    (*base, "payment", "currency"),
                    "bad-currency",
                    f"'{currency}' is not an ISO 4217 code",
                    f"write it in capitals: {currency.upper()}",
                )
            else:
                self.check_expression(currency, (*base, "payment", "currency"))

    def check_expression(self, source: str, path: DataPath) -> None:
        line, column = self.doc.position(path)
        quoted = self.doc.line_text(line)[column - 1 : column] in ("'", '"')
        try:
            expression = parse_expression(source)
        except ExpressionError as error:
            self.add(
                path,
                "bad-condition",
                error.message,
                error.hint or "see 'Expressions' in docs/flow-language.md",
                column_offset=error.offset + int(quoted),
            )
            return
        for name in sorted(expression.names):
            self.check_name(name, path)

    def check_name(self, name: str, path: DataPath) -> None:
        namespace, _, key = name.partition(".")
        fields = NAMESPACES.get(namespace)
        if namespace == "attempts":
            fields = frozenset(self.step_ids)
        elif namespace == "vars":
            fields = frozenset(self.variables)
        elif namespace == "settings":
            if self.context.config is not None:
                known = {k for line in self.context.config.service_lines for k in line.settings}
                if key not in known:
                    self.add(
                        path,
                        "unknown-setting",
                        f"no service line sets '{key}'",
                        did_you_mean(key, known) or "settings are in config/service-lines.yaml",
                        severity="warning",
                    )
            return
        if fields is not None and key not in fields:
            hint = did_you_mean(key, fields) or _takes(fields, "fields")
            self.add(path, "unknown-name", f"'{name}' does not exist", hint)

    def check_prompts(self) -> None:
        catalog = self.context.catalog
        if catalog is None:
            return
        refs = list(prompt_refs(self.flow))
        for number, language in enumerate(self.flow.flow.languages):
            if language not in catalog.languages:
                self.add(
                    ("flow", "languages", number),
                    "unknown-language",
                    f"there is no prompt catalogue for '{language}'",
                    f"add {catalog.root / language / 'catalog.yaml'}",
                )
                continue
            for prompt, path in refs:
                if not catalog.has(prompt, language):
                    where = catalog.root / language / "catalog.yaml"
                    close = did_you_mean(prompt, catalog.ids(language))
                    add = f"add '{prompt}:' with its text under prompts: in {where}"
                    self.add(
                        path,
                        "unknown-prompt",
                        f"prompt '{prompt}' is not in the {language} catalogue",
                        f"{close} Or {add}" if close else add,
                    )

    def check_graph(self) -> None:
        start = self.start_step()
        if start is None:
            return
        seen = reachable(start, self.edges)
        for section, index, step in self.flow.all_steps():
            if step.step not in seen and not self.graph_incomplete:
                self.add(
                    (section, index, "step"),
                    "unreachable-step",
                    f"no path from the start reaches step '{step.step}'",
                    f"route an outcome to '{step.step}', or remove the step",
                )
                seen.add(step.step)  # report each id once
        waiting = {
            step.step
            for _, _, step in self.flow.all_steps()
            if isinstance(step, m.AskStep | m.MenuStep | m.PaymentStep) and step.skip_if is None
        }
        positions = {step.step: (section, index) for section, index, step in self.flow.all_steps()}
        for loop in loops_without_wait(self.edges, waiting):
            ordered = sorted(loop, key=lambda s: self.doc.position((*positions[s], "step")))
            self.add(
                (*positions[ordered[0]], "step"),
                "unbounded-loop",
                "these steps loop without waiting for the caller: " + " -> ".join(ordered),
                "put an ask or menu step in the loop, or route one outcome out of it",
            )

    def start_step(self) -> str | None:
        start = self.flow.flow.start
        if start is not None:
            if start in ("next", "hangup") or "." in start:
                self.add(
                    ("flow", "start"),
                    "bad-target",
                    f"the flow cannot start at '{start}'",
                    "name a step or a list: steps, identify or verify",
                )
                return None
            ref = self.resolve("steps", 0, start, ("flow", "start"))
            return ref.name if ref is not None and ref.kind == "step" else None
        for _, steps in self.flow.sections():
            if steps:
                return steps[0].step
        self.add(
            ("schema_version",),
            "missing-key",
            "the flow has no steps",
            "add steps under 'steps:', 'identify:' or 'verify:'",
        )
        return None


def _span(low: int, high: int) -> str:
    return f"{low} digits" if low == high else f"{low} to {high} digits"


def _takes(options: Iterable[str], what: str = "parameters") -> str:
    names = sorted(options)
    return f"{what}: " + ", ".join(names) if names else f"there are no {what}"


def check_flow(
    flow: m.FlowFile, doc: YamlDocument, context: ValidationContext, repaired: set[str]
) -> list[Problem]:
    """Every cross-reference and graph problem of one flow (schema already checked)."""
    return _Checker(flow, doc, context).run(repaired)


def unused_prompts(flows: Iterable[m.FlowFile], catalog: PromptCatalog) -> list[Problem]:
    """Warnings for catalogue prompts that none of `flows` names."""
    used = {prompt for flow in flows for prompt, _ in prompt_refs(flow)}
    problems = []
    for language in catalog.languages:
        file = str(Path(catalog.root) / language / "catalog.yaml")
        for prompt in sorted(catalog.ids(language) - used):
            entry = catalog.get(prompt, language)
            problems.append(
                Problem(
                    file,
                    max(entry.line, 1),
                    3,
                    "unused-prompt",
                    f"prompt '{prompt}' is not used by any flow",
                    "remove it, or use it in a flow",
                    "warning",
                )
            )
    return problems
