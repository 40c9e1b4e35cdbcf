"""The local math evaluator, run as a child process by search.math (`python -m search.sympy_eval`).

It reads one query on stdin and prints the exact result. The parent enforces the time limit by
killing this process; the memory limit is set here. sympy's parser evaluates Python, so a query
passes a strict check first: only digits, operators, brackets and allow-listed names (sympy functions
and one-letter symbols); no underscores, quotes, or attribute access.

Understood: an expression ("2^100", "sqrt(8)", "5!"), an equation ("x^2 = 4"), and the commands
"solve … [for x]", "integrate … [dx] [from a to b]", "derivative of … [with respect to x]",
"limit of … as x -> a", "factor …", "expand …", "simplify …".
"""

from __future__ import annotations

import re
import resource
import sys
from collections.abc import Callable

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

MEMORY_BYTES = 1 << 30
RESULT_CHARS = 2000
LONG_INTEGER_BITS = 6000  # about 1800 digits: longer integers are shown rounded
FUNCTIONS = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "tanh",
        "exp",
        "log",
        "ln",
        "sqrt",
        "cbrt",
        "root",
        "abs",
        "Abs",
        "factorial",
        "binomial",
        "gcd",
        "lcm",
        "floor",
        "ceiling",
        "pi",
        "oo",
        "inf",
        "infinity",
        "E",
        "I",
        "Rational",
        "re",
        "im",
        "conjugate",
        "isprime",
        "prime",
        "primefactors",
        "Sum",
        "Product",
    ]
)
NAMES = {
    "e": sympy.E,
    "i": sympy.I,
    "ln": sympy.log,
    "inf": sympy.oo,
    "infinity": sympy.oo,
    "primefactors": sympy.primefactors,
}
SAFE_TEXT = re.compile(r"[A-Za-z0-9\s+\-*/^().,=!<>]*")
TRANSFORMATIONS = (*standard_transformations, implicit_multiplication_application, convert_xor)
PREFIX = re.compile(r"^(?:what\s+is|what's|calculate|compute|evaluate)\s+", re.IGNORECASE)


class MathError(ValueError):
    """The query cannot be evaluated; the message says why in plain words."""


def parse(text: str) -> sympy.Expr:
    text = text.strip()
    if not text or not SAFE_TEXT.fullmatch(text) or re.search(r"\.\s*[A-Za-z]", text):
        raise MathError(f"cannot read {text!r} as math")
    for name in re.findall(r"[A-Za-z]+", text):
        if len(name) > 1 and name not in FUNCTIONS:
            raise MathError(f"unknown name {name!r} (write products with *, e.g. x*y)")
    try:
        return parse_expr(text, local_dict=dict(NAMES), transformations=TRANSFORMATIONS)
    except (SyntaxError, TypeError, ValueError, sympy.SympifyError) as error:
        raise MathError(f"cannot read {text!r} as math") from error


def parse_relation(text: str) -> sympy.Expr:
    """`a = b` as the expression a - b (whose roots solve it); anything else as itself."""
    left, equals, right = text.partition("=")
    return parse(left) - parse(right) if equals else parse(text)


def describe(value: object) -> str:
    """Exact result, with a decimal value beside it when the exact form is not already a plain number."""
    if value in (sympy.zoo, sympy.nan):
        return "undefined"
    if isinstance(value, sympy.Integer) and abs(value.p).bit_length() > LONG_INTEGER_BITS:
        return f"≈ {sympy.N(value, 15)} (an integer of {len(str(abs(value.p)))} digits)"
    exact = str(value)
    if isinstance(value, sympy.Basic) and value.is_number and not value.is_Integer:
        approx = sympy.N(value, 15)
        if str(approx) != exact:
            return f"{exact} (≈ {approx})"
    return exact


def _variable(expression: sympy.Expr, name: str | None) -> sympy.Symbol:
    if name:
        return sympy.Symbol(name)
    free = sorted(expression.free_symbols, key=str)
    return free[0] if free else sympy.Symbol("x")


def solve_equations(text: str, name: str | None = None) -> str:
    equations = [parse_relation(part) for part in re.split(r",|\band\b", text) if part.strip()]
    symbols = sorted(set().union(*(e.free_symbols for e in equations)), key=str)
    unknowns = [sympy.Symbol(name)] if name else symbols
    if not unknowns:
        return "true" if all(sympy.simplify(e) == 0 for e in equations) else "false"
    solutions = sympy.solve(equations, unknowns, dict=True)
    if not solutions:
        return "no solution"
    return "; ".join(", ".join(f"{k} = {describe(v)}" for k, v in s.items()) for s in solutions)


def integrate(body: str, name: str | None, low: str | None, high: str | None) -> str:
    expression = parse(body)
    variable = _variable(expression, name)
    if low is not None and high is not None:
        return describe(sympy.integrate(expression, (variable, parse(low), parse(high))))
    return f"{sympy.integrate(expression, variable)} + C"


def differentiate(body: str, name: str | None) -> str:
    expression = parse(body)
    return str(sympy.diff(expression, _variable(expression, name)))


def limit(body: str, name: str, point: str) -> str:
    return describe(sympy.limit(parse(body), sympy.Symbol(name), parse(point)))


def rewrite(command: str, body: str) -> str:
    expression = parse(body)
    if command == "factor" and expression.is_Integer:
        return " * ".join(f"{p}^{k}" if k > 1 else str(p) for p, k in sympy.factorint(expression).items())
    action: Callable[[sympy.Expr], sympy.Expr] = {"factor": sympy.factor, "expand": sympy.expand}.get(
        command, sympy.simplify
    )
    return str(action(expression))


COMMANDS: tuple[tuple[re.Pattern[str], Callable[..., str]], ...] = (
    (re.compile(r"solve\s+(.+?)(?:\s+for\s+([A-Za-z]))?", re.I), solve_equations),
    (
        re.compile(r"(?:integrate|integral\s+of)\s+(.+?)(?:\s+d([A-Za-z]))?(?:\s+from\s+(.+?)\s+to\s+(.+))?", re.I),
        integrate,
    ),
    (
        re.compile(r"(?:differentiate|derivative\s+of)\s+(.+?)(?:\s+with\s+respect\s+to\s+([A-Za-z]))?", re.I),
        differentiate,
    ),
    (re.compile(r"limit\s+of\s+(.+?)\s+as\s+([A-Za-z])\s*(?:->|→|approaches)\s*(.+)", re.I), limit),
    (re.compile(r"(factor|expand|simplify)\s+(.+)", re.I), lambda command, body: rewrite(command.lower(), body)),
)


def evaluate(query: str) -> str:
    text = PREFIX.sub("", " ".join(query.split())).rstrip("?").strip()
    for pattern, action in COMMANDS:
        if match := pattern.fullmatch(text):
            return action(*match.groups())
    if "=" in text:
        return solve_equations(text)
    return describe(sympy.simplify(parse(text)))


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    sys.set_int_max_str_digits(0)  # long integers are shortened by describe(), not refused
    try:
        result = evaluate(sys.stdin.read())
    except MathError as error:
        print(f"Error: {error}.")
        return
    except (ArithmeticError, NotImplementedError, ValueError, TypeError, MemoryError) as error:
        print(f"Error: sympy could not evaluate this ({type(error).__name__}).")
        return
    print(result if len(result) <= RESULT_CHARS else result[:RESULT_CHARS] + "… (result cut)")


if __name__ == "__main__":
    main()
