"""The expression sandbox for gateway conditions and auto-pass rules.

Expressions are parsed with :mod:`ast` and *interpreted* node by node: nothing is
ever handed to ``eval``/``exec``. Only a whitelist of node types is accepted, names
must be graduate attributes (or ``True``/``False``/``None``), and there are no
calls, attribute access, subscripts, comprehensions or lambdas, so there is no way
to reach an object's class, a builtin or a module.
"""
from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

MAX_LENGTH = 1000
MAX_NODES = 200
MAX_COLLECTION = 200
MAX_STRING = 200
MAX_NUMBER = 10**12
MAX_EXPONENT = 8

_CONSTANT_NAMES = {"True": True, "False": False, "None": None,
                   "true": True, "false": False}

_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.FloorDiv: operator.floordiv,
}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Compare, ast.BinOp,
    ast.IfExp, ast.Name, ast.Load, ast.Constant, ast.Tuple, ast.List, ast.Set,
    *_COMPARE, *_BINARY, *_UNARY,
)

# Human names for what we refuse, so a process admin understands the message.
_REFUSED = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access (a.b) is not allowed",
    ast.Subscript: "indexing (a[b]) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Starred: "* unpacking is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


class ExpressionError(ValueError):
    """The expression is not allowed or cannot be evaluated."""


def check(expression: str, names: frozenset[str] | set[str]) -> ast.Expression:
    """Parse and whitelist ``expression``; return the tree or raise ExpressionError."""
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError("empty expression")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):
        raise ExpressionError("cannot be parsed") from None
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"expression has more than {MAX_NODES} parts")
        if not isinstance(node, _ALLOWED):
            reason = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed")
            raise ExpressionError(reason)
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise ExpressionError(f"name {node.id!r} is not allowed")
            if node.id not in names and node.id not in _CONSTANT_NAMES:
                known = ", ".join(sorted(names))
                raise ExpressionError(f"unknown attribute {node.id!r} (known: {known})")
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str) and len(value) > MAX_STRING:
                raise ExpressionError(f"text constant longer than {MAX_STRING} characters")
            if isinstance(value, (bytes, complex)) or value is Ellipsis:
                raise ExpressionError(f"constant {value!r} is not allowed")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
                raise ExpressionError("number too large")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if len(node.elts) > MAX_COLLECTION:
                raise ExpressionError(f"list longer than {MAX_COLLECTION} items")
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Add) and any(
                isinstance(side, ast.Constant) and isinstance(side.value, str) for side in (node.left, node.right)):
            raise ExpressionError("arithmetic on text is not allowed")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exp = node.right
            if not (isinstance(exp, ast.Constant) and isinstance(exp.value, int)
                    and not isinstance(exp.value, bool) and 0 <= exp.value <= MAX_EXPONENT):
                raise ExpressionError(f"** needs a whole-number exponent from 0 to {MAX_EXPONENT}")
    return tree


def evaluate(expression: str | ast.Expression, attributes: Mapping[str, Any],
             names: frozenset[str] | set[str] | None = None) -> Any:
    """Evaluate a whitelisted expression over ``attributes`` only."""
    allowed = frozenset(attributes) if names is None else names
    tree = expression if isinstance(expression, ast.Expression) else check(expression, allowed)
    return _Interpreter(attributes).visit(tree.body)


class _Interpreter:
    def __init__(self, attributes: Mapping[str, Any]):
        self.attributes = attributes

    def visit(self, node: ast.AST) -> Any:
        try:
            method = getattr(self, "v_" + type(node).__name__)
        except AttributeError:
            raise ExpressionError(f"{type(node).__name__} is not allowed") from None
        return method(node)

    def v_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def v_Name(self, node: ast.Name) -> Any:
        if node.id in _CONSTANT_NAMES:
            return _CONSTANT_NAMES[node.id]
        if node.id.startswith("_") or node.id not in self.attributes:
            raise ExpressionError(f"unknown attribute {node.id!r}")
        return self.attributes[node.id]

    def v_Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self.visit(e) for e in node.elts)

    v_List = v_Tuple

    def v_Set(self, node: ast.Set) -> frozenset:
        return frozenset(self.visit(e) for e in node.elts)

    def v_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        if isinstance(node.op, ast.And):
            for e in node.values:
                value = self.visit(e)
                if not value:
                    return value
            return value
        for e in node.values:
            value = self.visit(e)
            if value:
                return value
        return value

    def v_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if not isinstance(node.op, ast.Not):
            _number(operand)
        return _UNARY[type(node.op)](operand)

    def v_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        op = type(node.op)
        if op is ast.Add and isinstance(left, str) and isinstance(right, str):
            if len(left) + len(right) > MAX_STRING * 4:
                raise ExpressionError("text too long")
            return left + right
        _number(left)
        _number(right)
        if op is ast.Pow and (abs(left) > 10**6 or not 0 <= right <= MAX_EXPONENT):
            raise ExpressionError("power too large")
        try:
            result = _BINARY[op](left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        if abs(result) > MAX_NUMBER * MAX_NUMBER:
            raise ExpressionError("number too large")
        return result

    def v_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            right = self.visit(comp)
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError:
                raise ExpressionError(
                    f"cannot compare {type(left).__name__} with {type(right).__name__}") from None
            if not ok:
                return False
            left = right
        return True

    def v_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)


def _number(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"arithmetic needs numbers, not {type(value).__name__}")
