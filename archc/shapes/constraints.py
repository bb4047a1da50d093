"""Shapes stage: the input sizes a network accepts, derived from the guards its expansion recorded.

Each input symbol (`H`, `W`, `L`) gets one rule: a minimum, a step (`multiples of 32`, or
`32k + 1`), sometimes a maximum, or one fixed size. The rule is found by evaluating every
guard exactly at each size up to well past the guards' period, so it is what the shape
rules say, not an estimate; a guard that ties two symbols together (`(H // 16) * (W // 16)
== 196`, ViT's position table) fixes both to the declared size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from archc.shapes.symbolic import _APPLY, _RELATIONS, Guard, Sym, SymShape

# The guards of the shipped zoo have periods up to 64 (strides of 32 with ceil modes); scanning
# eight periods past twice the declared size shows the pattern, and stays cheap.
_MAX_SCAN = 20_000
_MAX_PERIOD = 1024
_DIM_WORDS = {"H": "height", "W": "width", "L": "length"}


@dataclass(frozen=True)
class SizeRule:
    """What one input symbol may be: at least `minimum`, with `size % step` one of `residues`
    (at most `maximum` where there is one), or exactly `declared` when `fixed`."""

    symbol: str
    declared: int
    minimum: int
    step: int = 1
    residues: tuple[int, ...] = (0,)
    maximum: int | None = None
    fixed: bool = False
    because: str = ""  # the node and guard behind the rule, for messages

    def admits(self, size: int) -> bool:
        if self.fixed:
            return size == self.declared
        if size < self.minimum or (self.maximum is not None and size > self.maximum):
            return False
        return size % self.step in self.residues

    def phrase(self, several: bool = False) -> str:
        """`>= 32, multiples of 32` (the names go in front; `several` when more than one)."""
        parts = [f">= {self.minimum}"]
        if self.step > 1 and len(self.residues) == 1:
            rest = self.residues[0]
            parts.append(f"multiples of {self.step}" if rest == 0 else f"of the form {self.step}k + {rest}")
        elif self.step > 1:
            who = "each" if several else self.symbol
            parts.append(f"{who} % {self.step} in {{{', '.join(map(str, self.residues))}}}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum}")
        return ", ".join(parts)

    def conditions(self, size: str) -> list[str]:
        """The rule as Python conditions on `size` (an expression of the runtime size), each of
        which must hold: separate, so that torch.fx can trace each (`and` would ask a proxy its truth)."""
        if self.fixed:
            return [f"{size} == {self.declared}"]
        terms = [f"{size} >= {self.minimum}"] if self.minimum > 1 else []
        first, last = self.residues[0], self.residues[-1]
        if self.step > 1 and len(self.residues) == 1:
            terms.append(f"{size} % {self.step} == {first}")
        elif self.step > 1 and self.residues == tuple(range(first, last + 1)):
            terms.append(f"({size} - {first}) % {self.step} <= {last - first}")
        elif self.step > 1:
            terms.append(f"{size} % {self.step} in {self.residues}")
        if self.maximum is not None:
            terms.append(f"{size} <= {self.maximum}")
        return terms

    def message(self, input_name: str) -> str:
        word = _DIM_WORDS.get(self.symbol, self.symbol)
        prefix = "input" if input_name == "input" else f"input {input_name}"
        if self.fixed:
            return f"this network takes {prefix} {word} {self.symbol} = {self.declared} only ({self.because})"
        return f"this network takes {prefix} {word} {self.symbol} {self.phrase()} ({self.because})"

    def as_json(self) -> dict[str, Any]:
        if self.fixed:
            return {"fixed": self.declared, "because": self.because}
        return {"min": self.minimum, "step": self.step, "residues": list(self.residues),
                "max": self.maximum, "because": self.because}


@dataclass(frozen=True)
class InputConstraints:
    """The sizes one network input accepts: its symbolic shape and a rule per symbol, in eval
    mode (`rules`) and in training mode, where training-only heads may ask for more."""

    name: str
    shape: tuple[Any, ...]  # per-sample: ints and symbol names (`3, "H", "W"`)
    declared: tuple[int, ...]
    rules: tuple[SizeRule, ...]
    training_rules: tuple[SizeRule, ...] = ()

    @property
    def flexible(self) -> bool:
        return any(not r.fixed for r in self.rules)

    def line(self) -> str:
        """`input 3 x H x W: H, W >= 32, multiples of 32`, or `input 3 x 224 x 224 (fixed: ...)`."""
        label = "input" if self.name == "input" else f"input {self.name}"
        if not self.rules:
            return f"{label} {' x '.join(map(str, self.declared))}"
        pinned = {r.symbol for r in self.rules if r.fixed}
        dims = " x ".join(str(self.declared[i]) if d in pinned else str(d) for i, d in enumerate(self.shape))
        text = f"{label} {dims}" + _described(self.rules)
        if self.training_rules and self.training_rules != self.rules:
            text += f" (in training:{_described(self.training_rules).lstrip(':')})"
        return text

    def refusal(self, sizes: dict[str, int], training: bool = False) -> str | None:
        """The message for sizes the network does not take, or None."""
        rules = self.training_rules if training and self.training_rules else self.rules
        for rule in rules:
            if rule.symbol in sizes and not rule.admits(sizes[rule.symbol]):
                mode = " in training" if training and rules is not self.rules else ""
                return f"{rule.message(self.name)}{mode}; got {rule.symbol} = {sizes[rule.symbol]}"
        return None

    def as_json(self) -> dict[str, Any]:
        result = {"shape": [d if isinstance(d, str) else int(d) for d in self.shape], "declared": list(self.declared),
                  "sizes": {r.symbol: r.as_json() for r in self.rules}, "line": self.line()}
        if self.training_rules and self.training_rules != self.rules:
            result["training_sizes"] = {r.symbol: r.as_json() for r in self.training_rules}
        return result


def _described(rules: tuple[SizeRule, ...]) -> str:
    """`: H, W >= 32, multiples of 32`, or ` (fixed: why)` where no symbol is free."""
    free = [r for r in rules if not r.fixed]
    fixed = [r for r in rules if r.fixed]
    if not free:
        return f" (fixed: {fixed[0].because})"
    groups: dict[tuple[Any, ...], list[SizeRule]] = {}
    for rule in free:
        groups.setdefault((rule.minimum, rule.step, rule.residues, rule.maximum), []).append(rule)
    parts = [f"{', '.join(r.symbol for r in same)} {same[0].phrase(len(same) > 1)}" for same in groups.values()]
    parts += [f"{r.symbol} = {r.declared} ({r.because})" for r in fixed]
    return ": " + "; ".join(parts)


def derive(name: str, shape: tuple[Any, ...], declared: tuple[int, ...], guards: Iterable[Guard],
           training_only: frozenset[str] = frozenset()) -> InputConstraints:
    """The rules of one input's symbols (the names in `shape`) from the guards on them; guards
    recorded in training-only nodes (their path starts with one of `training_only`) bind in
    training mode only."""
    guards = tuple(guards)
    symbols = {d: declared[i] for i, d in enumerate(shape) if isinstance(d, str)}
    in_eval = tuple(g for g in guards if g.where.partition(".")[0] not in training_only)
    rules = _rules(symbols, in_eval)
    training = _rules(symbols, guards) if len(in_eval) != len(guards) else rules
    return InputConstraints(name, shape, declared, rules, training)


def _rules(symbols: dict[str, int], guards: tuple[Guard, ...]) -> tuple[SizeRule, ...]:
    by_symbol: dict[str, list[Guard]] = {s: [] for s in symbols}
    pinned: dict[str, str] = {}
    for g in guards:
        mine = g.symbols & symbols.keys()
        if len(g.symbols) > 1:
            for s in sorted(mine):
                pinned.setdefault(s, _because(g))
        elif mine:
            by_symbol[next(iter(mine))].append(g)
    rules = []
    for symbol, hint in symbols.items():
        if symbol in pinned:
            rules.append(SizeRule(symbol, hint, hint, fixed=True, because=pinned[symbol]))
        else:
            rules.append(_rule(symbol, hint, by_symbol[symbol]))
    return tuple(rules)


def _rule(symbol: str, hint: int, guards: list[Guard]) -> SizeRule:
    if not guards:
        return SizeRule(symbol, hint, 1)
    period = 1
    for g in guards:
        period = min(math.lcm(period, _period(g.lhs), _period(g.rhs)), _MAX_PERIOD)
    program = _Program(symbol, guards)
    # Nested floor divisions give long periods on paper (2**k for k halvings) while the sizes
    # admitted repeat much sooner: scan a short range first, then check the rule found far out.
    limit = min(max(2 * hint, 64) + 8 * min(period, 64), _MAX_SCAN)
    rule = _rule_in(symbol, hint, program, limit, period)
    far = range(limit + 1, min(max(2 * hint, 64) + 8 * period, _MAX_SCAN) + 1)
    if far and any(rule.admits(n) != program.admits(n) for n in far[:: max(1, len(far) // 256)]):
        rule = _rule_in(symbol, hint, program, far[-1], period)
    return rule


def _rule_in(symbol: str, hint: int, program: "_Program", limit: int, period: int) -> SizeRule:
    ok = [False] + [program.admits(n) for n in range(1, limit + 1)]
    step = _tail_period(ok, period)
    tail = range(limit - 2 * step + 1, limit + 1)
    residues = tuple(sorted({n % step for n in tail if ok[n]}))
    if not residues:  # nothing large is admitted: a bounded range, or one size
        admitted = [n for n in range(1, limit + 1) if ok[n]]
        if len(admitted) <= 1:
            return SizeRule(symbol, hint, hint, fixed=True, because=_blame(symbol, hint + 1, program) or _blame(symbol, hint - 1, program))
        low, high = admitted[0], admitted[-1]
        step = math.gcd(*(n - low for n in admitted[1:]))
        if admitted != list(range(low, high + 1, step)):
            return SizeRule(symbol, hint, hint, fixed=True, because=_blame(symbol, hint + 1, program) or _blame(symbol, hint - 1, program))
        because = [_blame(symbol, low - 1, program), _blame(symbol, high + step, program)]
        return SizeRule(symbol, hint, low, step, (low % step,), high, because=_joined(because))
    # Below the periodic tail a few sizes may differ (a kernel larger than a small map): the
    # rule starts after the last one that does, so every size it admits is admitted.
    start = next((n + 1 for n in range(limit, 0, -1) if ok[n] != (n % step in residues)), 1)
    low = next(n for n in range(start, limit + 1) if ok[n])
    because = [_blame(symbol, n, program) for n in range(low - 1, max(low - step - 1, 0), -1) if not ok[n]][:1]
    because += [_blame(symbol, n, program) for n in range(low + 1, low + step) if not ok[n]][:1]
    return SizeRule(symbol, hint, low, step, residues, because=_joined(because))


class _Program:
    """The guards on one symbol as one straight-line program: every distinct subexpression
    (the guards of a deep network share long chains) is computed once per size."""

    def __init__(self, symbol: str, guards: list[Guard]) -> None:
        self.symbol, self.guards = symbol, guards
        self.slots: dict[Any, int] = {}
        self.steps: list[tuple[Any, int, int, Any, Any]] = []
        self.checks = [(g.rel, self._slot(g.lhs), self._slot(g.rhs), g.holds) for g in guards]

    def _slot(self, value: Any) -> int:
        """The index of the value's result; constants are slots too."""
        key = value.key if isinstance(value, Sym) else ("c", value)
        if key in self.slots:
            return self.slots[key]
        if not isinstance(value, Sym):
            self.steps.append((None, -1, -1, value, None))
        elif value.op == "sym":
            self.steps.append(("sym", -1, -1, None, None))
        else:
            a, b = self._slot(value.a), self._slot(value.b)
            self.steps.append((_APPLY[value.op], a, b, None, None))
        self.slots[key] = len(self.steps) - 1
        return self.slots[key]

    def _values(self, size: int) -> list[Any]:
        values: list[Any] = []
        for fn, a, b, const, _ in self.steps:
            values.append(const if fn is None else size if fn == "sym" else fn(values[a], values[b]))
        return values

    def admits(self, size: int) -> bool:
        values = self._values(size)
        return all(_RELATIONS[rel](values[a], values[b]) == holds for rel, a, b, holds in self.checks)

    def refusal(self, size: int) -> Guard | None:
        """The first guard that does not admit `size`."""
        values = self._values(size)
        for guard, (rel, a, b, holds) in zip(self.guards, self.checks):
            if _RELATIONS[rel](values[a], values[b]) != holds:
                return guard
        return None


def _tail_period(ok: list[bool], period: int) -> int:
    """The smallest step with which the admitted sizes repeat over the scanned tail."""
    limit = len(ok) - 1
    for step in range(1, period + 1):
        if period % step == 0 and all(ok[n] == ok[n + step] for n in range(limit // 2, limit - step + 1)):
            return step
    return period


def _joined(parts: list[str]) -> str:
    return "; ".join(dict.fromkeys(p for p in parts if p)) or "the shape rules"


def _blame(symbol: str, size: int, program: "_Program") -> str:
    """`layer4.0.conv2: why`: where the first guard that refuses `size` was recorded."""
    if size < 1:
        return ""
    g = program.refusal(size)
    return "" if g is None else _place(g)


def _place(g: Guard) -> str:
    """`pool4` (a maxpool2d): the node that recorded the guard, and what it is."""
    kind = g.why.partition(": ")[0]
    if not kind:
        return f"`{g.where}`"
    if kind.startswith("`"):  # an expression the node's arguments are computed with
        return f"`{g.where}` ({kind})"
    return f"`{g.where}` ({'an' if kind[0] in 'aeiou' else 'a'} {kind})"


def _because(g: Guard) -> str:
    """Why a guard fixes the size: what the node cannot follow, or the equation it needs."""
    reason = g.why.partition(": ")[2]
    return f"{_place(g)}: {reason}" if reason else f"{_place(g)} needs {g.text()}"


def _period(value: Any) -> int:
    """A period of a size expression: floor divisions by p make it repeat every p (times inner periods)."""
    if not isinstance(value, Sym) or value.op == "sym":
        return 1
    if value.op in ("//", "%") and not isinstance(value.b, Sym) and value.b > 0:
        return min(_period(value.a) * value.b, _MAX_PERIOD)
    return min(math.lcm(_period(value.a), _period(value.b)), _MAX_PERIOD)


# The symbols of an input's sizes, by its rank (channels first): images, signals, volumes.
_SYMBOLS = {2: ("L",), 3: ("H", "W"), 4: ("D", "H", "W")}


def symbolic_inputs(inputs: tuple[tuple[str, tuple[int, ...]], ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The inputs with their sizes after the channels as symbols (`H`, `W`), where the network
    has one input; a network of several inputs keeps them at their declared sizes."""
    if len(inputs) != 1 or len(inputs[0][1]) not in _SYMBOLS:
        return inputs
    name, shape = inputs[0]
    names = _SYMBOLS[len(shape)]
    sym = (shape[0], *(Sym.symbol(s, n) for s, n in zip(names, shape[1:])))
    return ((name, SymShape(shape, sym)),)


def input_constraints(inputs: tuple[tuple[str, tuple[int, ...]], ...], guards: Iterable[Guard],
                      training_only: frozenset[str] = frozenset()) -> tuple[InputConstraints, ...]:
    """Per input, its symbolic shape and the rules of its symbols."""
    guards = tuple(guards)
    result = []
    for name, shape in inputs:
        if isinstance(shape, SymShape):
            symbolic = tuple(s.a if isinstance(s, Sym) else s for s in shape.sym)
            result.append(derive(name, symbolic, tuple(shape), guards, training_only))
        elif len(inputs) > 1 and len(shape) in _SYMBOLS:
            # Sizes of several inputs are not followed (their symbols would have to be told apart).
            names = _SYMBOLS[len(shape)]
            because = f"archc follows the sizes of a network's only input; this one has {len(inputs)}"
            rules = tuple(SizeRule(s, n, n, fixed=True, because=because) for s, n in zip(names, shape[1:]))
            result.append(InputConstraints(name, (shape[0], *names), tuple(shape), rules, rules))
        else:
            result.append(InputConstraints(name, tuple(shape), tuple(shape), ()))
    return tuple(result)
