"""The condition language of `skip_if`, `decide` and `set`: small, safe and never raising.

Business files must not run code. An expression is parsed with Python's `ast` and every node
is checked against an allowlist (literals, `namespace.field` names, `not and or`, comparisons,
`+ -`, list literals for `in`); the checked tree is then turned into a tree of small closures,
so evaluation is a few function calls with no `eval`. A name that is missing evaluates to
None, and comparing None (or mismatched types) with `<` is simply false.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Scope = Mapping[str, Mapping[str, Any]]
_Fn = Callable[[Scope], Any]

# Namespace -> its fields; None means "any field" (checked against the flow or config instead).
NAMESPACES: dict[str, frozenset[str] | None] = {
    "call": frozenset(
        {"call_id", "ani", "dnis", "ani_presented", "ani_trust", "service_line", "language"}
    ),
    "customer": frozenset({"id", "name", "identified", "verified", "locked"}),
    "idv": frozenset({"status"}),
    "settings": None,
    "attempts": None,
    "vars": None,
}
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False}
MAX_LENGTH = 500
_EMPTY: Mapping[str, Any] = {}


class ExpressionError(ValueError):
    """Why an expression is refused; `offset` is the 0-based column inside the source."""

    def __init__(self, message: str, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


@dataclass(frozen=True)
class Expression:
    source: str
    names: frozenset[str]  # dotted names referenced, e.g. {"settings.identify_by_ani"}
    _fn: _Fn = field(repr=False, compare=False)

    def evaluate(self, scope: Scope) -> Any:
        """The value under `scope` ({"call": {...}, "settings": {...}, ...}); never raises."""
        try:
            return self._fn(scope)
        except Exception:  # a guard: the allowlist leaves nothing that should raise
            return None


def parse_expression(source: str) -> Expression:
    """Check and compile `source`; raises ExpressionError with the column of the fault."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text")
    text = source.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    stripped = text.lstrip()
    lead = len(text) - len(stripped)
    if not stripped.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        if not error.offset:  # Python reports the end of the input as offset 0
            raise ExpressionError("the expression is incomplete", lead + len(stripped)) from None
        raise ExpressionError(_syntax_message(error), lead + error.offset - 1) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("the expression cannot be read", lead) from None
    compiler = _Compiler(stripped, lead)
    fn = compiler.compile(tree.body)
    return Expression(source=source, names=frozenset(compiler.names), _fn=fn)


def _syntax_message(error: SyntaxError) -> str:
    message = error.msg or "invalid syntax"
    if message.startswith("invalid syntax"):
        return "this is not a valid expression here"
    return message


def _safe_compare(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        try:
            return bool(op(a, b))
        except TypeError:
            return False

    return compare


def _contains(a: Any, b: Any) -> bool:
    try:
        return b is not None and a in b
    except TypeError:
        return False


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if isinstance(a, bool) or isinstance(b, bool):
            return None
        try:
            return op(a, b)
        except TypeError:
            return None

    return apply


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: _safe_compare(operator.lt),
    ast.LtE: _safe_compare(operator.le),
    ast.Gt: _safe_compare(operator.gt),
    ast.GtE: _safe_compare(operator.ge),
    ast.In: _contains,
    ast.NotIn: lambda a, b: not _contains(a, b),
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _arith(operator.add),
    ast.Sub: _arith(operator.sub),
}
_REFUSED_COMPARE = {ast.Is: "use == instead of 'is'", ast.IsNot: "use != instead of 'is not'"}


class _Compiler:
    """Checks each node against the allowlist and builds its closure."""

    def __init__(self, source: str, lead: int) -> None:
        self.source = source
        self.lead = lead
        self.names: set[str] = set()

    def fail(self, node: ast.AST, message: str, hint: str | None = None) -> ExpressionError:
        col = getattr(node, "col_offset", 0)
        # ast offsets count UTF-8 bytes; the user counts characters
        chars = len(self.source.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return ExpressionError(message, self.lead + chars, hint)

    def compile(self, node: ast.expr) -> _Fn:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, _refusal(node))
        fn: _Fn = method(node)
        return fn

    def _Constant(self, node: ast.Constant) -> _Fn:
        value = node.value
        if value is not None and not isinstance(value, bool | int | float | str):
            raise self.fail(node, "only numbers, text, true, false and null are allowed")
        return lambda scope: value

    def _Name(self, node: ast.Name) -> _Fn:
        if node.id in _CONSTANTS:
            value = _CONSTANTS[node.id]
            return lambda scope: value
        if node.id == "None":  # pragma: no cover - parsed as a Constant
            return lambda scope: None
        if node.id in NAMESPACES:
            raise self.fail(node, f"'{node.id}' is a namespace; name a field: {node.id}.NAME")
        raise self.fail(
            node,
            f"unknown name '{node.id}'; names start with one of: " + ", ".join(NAMESPACES),
        )

    def _Attribute(self, node: ast.Attribute) -> _Fn:
        base = node.value
        if isinstance(base, ast.Name) and base.id not in NAMESPACES:
            close = difflib.get_close_matches(base.id, list(NAMESPACES), n=1, cutoff=0.6)
            raise self.fail(
                node,
                f"unknown namespace '{base.id}'; names start with one of: " + ", ".join(NAMESPACES),
                f"did you mean '{close[0]}'?" if close else None,
            )
        if not isinstance(base, ast.Name):
            raise self.fail(node, "names are namespace.field, e.g. settings.identify_by_ani")
        if node.attr.startswith("_"):
            raise self.fail(node, f"'{node.attr}' is not a field name")
        namespace, key = base.id, node.attr
        self.names.add(f"{namespace}.{key}")

        def lookup(scope: Scope) -> Any:
            return scope.get(namespace, _EMPTY).get(key)

        return lookup

    def _UnaryOp(self, node: ast.UnaryOp) -> _Fn:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda scope: not operand(scope)
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return _arith_neg(operand)
        raise self.fail(node, "only 'not' and a minus sign before a number are allowed here")

    def _BoolOp(self, node: ast.BoolOp) -> _Fn:
        parts = tuple(self.compile(value) for value in node.values)
        if isinstance(node.op, ast.And):

            def both(scope: Scope) -> Any:
                result: Any = True
                for part in parts:
                    result = part(scope)
                    if not result:
                        return result
                return result

            return both

        def either(scope: Scope) -> Any:
            result: Any = False
            for part in parts:
                result = part(scope)
                if result:
                    return result
            return result

        return either

    def _Compare(self, node: ast.Compare) -> _Fn:
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise self.fail(node, _REFUSED_COMPARE.get(type(op), "comparison not allowed"))
        left = self.compile(node.left)
        chain = tuple(
            (_COMPARE[type(op)], self.compile(right))
            for op, right in zip(node.ops, node.comparators, strict=True)
        )
        if len(chain) == 1:
            test, right = chain[0]
            return lambda scope: test(left(scope), right(scope))

        def chained(scope: Scope) -> bool:
            current = left(scope)
            for test, right_fn in chain:
                value = right_fn(scope)
                if not test(current, value):
                    return False
                current = value
            return True

        return chained

    def _BinOp(self, node: ast.BinOp) -> _Fn:
        apply = _ARITH.get(type(node.op))
        if apply is None:
            raise self.fail(node, "only + and - are allowed")
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda scope: apply(left(scope), right(scope))

    def _List(self, node: ast.List) -> _Fn:
        return self._items(node.elts)

    def _Tuple(self, node: ast.Tuple) -> _Fn:
        return self._items(node.elts)

    def _items(self, elements: list[ast.expr]) -> _Fn:
        items = tuple(self.compile(item) for item in elements)
        return lambda scope: [item(scope) for item in items]


def _arith_neg(operand: _Fn) -> _Fn:
    def negate(scope: Scope) -> Any:
        value = operand(scope)
        return -value if isinstance(value, int | float) and not isinstance(value, bool) else None

    return negate


def _refusal(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "calls are not allowed"
    if isinstance(node, ast.Subscript):
        return "indexing with [...] is not allowed"
    if isinstance(node, ast.Lambda):
        return "lambdas are not allowed"
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return "comprehensions are not allowed"
    if isinstance(node, ast.IfExp):
        return "'x if c else y' is not allowed; use a decide step"
    return f"{type(node).__name__.lower()} is not allowed in an expression"
