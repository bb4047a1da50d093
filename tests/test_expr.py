"""Tests for archc.spec.expr: the safe interpreter for spec expressions."""
from __future__ import annotations

import dataclasses
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archc.spec.expr import (
    HELPERS,
    Call,
    Expr,
    ExprError,
    did_you_mean,
    parse_call,
    parse_expr,
    render_template,
)


def ev(text: str, **env):
    return parse_expr(text).evaluate(env)


def err(text: str, **env) -> ExprError:
    with pytest.raises(ExprError) as info:
        parse_expr(text).evaluate(env)
    assert type(info.value) is ExprError
    return info.value


# --- literals and names ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("42", 42), ("1.5", 1.5), ("'abc'", "abc"), ('"x"', "x"),
    ("True", True), ("False", False), ("None", None),
    ("true", True), ("false", False), ("null", None),
    ("[1, 2]", (1, 2)), ("(1, 2)", (1, 2)), ("[]", ()), ("()", ()), ("[[1], (2,)]", ((1,), (2,))),
    ("1, 2", (1, 2)),
])
def test_literals(text, expected):
    assert ev(text) == expected
    assert type(ev(text)) is type(expected)


def test_names_and_yaml_lists_become_tuples():
    assert ev("width", width=64) == 64
    assert ev("layers", layers=[1, [2, 3]]) == (1, (2, 3))
    assert ev("layers[1]", layers=[6, 12, 24, 16]) == 12
    assert ev("layers[-1]", layers=(6, 12, 24, 16)) == 16


def test_yaml_literal_names_are_constants_not_free_names():
    assert parse_expr("true or x").names() == frozenset({"x"})
    assert ev("null", null=5) is None


def test_names_excludes_helpers_called():
    e = parse_expr("make_divisible(32 * width_mult, 8) + max(a, b[0]) if c else d")
    assert e.names() == frozenset({"width_mult", "a", "b", "c", "d"})


def test_unknown_name_did_you_mean_and_offset():
    e = err("2 * widht + 1", width=3)
    assert e.message == "unknown name 'widht'; did you mean 'width'?"
    assert e.offset == 4
    assert err("x", width=3).message == "unknown name 'x'"


def test_helper_is_not_a_value():
    e = err("max + 1")
    assert "'max' is a function" in e.message and e.offset == 0


def test_unusable_env_values():
    assert "unsupported type dict" in err("x", x={"a": 1}).message
    assert "too large" in err("x", x=10**30).message


# --- operators ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("7 + 2", 9), ("7 - 2", 5), ("7 * 2", 14), ("7 / 2", 3.5), ("7 // 2", 3), ("7 % 2", 1),
    ("-7 // 2", -4), ("-7 % 3", 2), ("2 ** 10", 1024), ("2 ** -1", 0.5), ("4 ** 0.5", 2.0),
    ("-3", -3), ("+3", 3), ("not 0", True), ("not 'a'", False), ("- -3", 3),
    ("True + True", 2), ("True * 3", 3), ("1 + 2 * 3 ** 2", 19), ("(1 + 2) * 3", 9),
    ("1.5 * 2", 3.0), ("'ab' + 'cd'", "abcd"), ("(1,) + (2,)", (1, 2)), ("[1] + (2,)", (1, 2)),
    ("'ab' * 2", "abab"), ("2 * (0,)", (0, 0)), ("'a' * -1", ""),
])
def test_arithmetic(text, expected):
    assert ev(text) == expected
    assert type(ev(text)) is type(expected)


@pytest.mark.parametrize("text, expected", [
    ("1 == 1", True), ("1 != 1", False), ("1 < 2", True), ("2 <= 2", True), ("3 > 2", True),
    ("2 >= 3", False), ("1 < 2 < 3", True), ("1 < 3 < 2", False), ("1 == 1.0", True),
    ("'a' < 'b'", True), ("(1, 2) < (1, 3)", True), ("2 in (1, 2)", True), ("3 not in [1, 2]", True),
    ("'ell' in 'hello'", True), ("'z' not in 'hello'", True), ("1 == 'a'", False), ("None == null", True),
])
def test_comparisons(text, expected):
    assert ev(text) is expected


def test_chained_comparison_short_circuits():
    assert ev("1 > 2 > missing") is False


def test_and_or_return_operands_and_short_circuit():
    assert ev("0 or 'x'") == "x"
    assert ev("3 and 4") == 4
    assert ev("0 and missing") == 0
    assert ev("5 or missing") == 5
    assert ev("stride != 1 or in_channels != width * 4", stride=1, in_channels=256, width=64) is False
    assert ev("stride != 1 or in_channels != width * 4", stride=2, in_channels=256, width=64) is True


def test_conditional_evaluates_only_chosen_branch():
    assert ev("2 if i == 0 else 1", i=0) == 2
    assert ev("2 if i == 0 else 1", i=3) == 1
    assert ev("1 if true else 1 / 0") == 1
    assert ev("missing if false else 7") == 7


def test_type_errors_name_the_types():
    assert err("'a' - 1").message == "unsupported operand types for -: 'str' and 'int'"
    assert err("(1,) + 1").message == "unsupported operand types for +: 'tuple' and 'int'"
    assert err("'a' * 'b'").message == "unsupported operand types for *: 'str' and 'str'"
    assert err("'%d' % 3").message == "unsupported operand types for %: 'str' and 'int'"
    assert err("None + 1").message == "unsupported operand types for +: 'None' and 'int'"
    assert err("-'a'").message == "bad operand type for unary -: 'str'"
    assert "'<' is not supported between 'int' and 'str'" in err("1 < 'a'").message
    assert "'<' is not supported" in err("(1,) < ('a',)").message
    assert "requires a string" in err("1 in 'abc'").message
    assert "needs a sequence" in err("1 in 5").message


def test_operator_error_offset_points_at_operator():
    assert err("x + (a - 1)", x=1, a="s").offset == 7
    assert err("(a) - (b)", a="s", b=1).offset == 4
    assert err("1 < 2 < 'a'").offset == 6


@pytest.mark.parametrize("text", ["1 / 0", "1 // 0", "1 % 0", "1.0 / 0.0", "1 % False", "0 ** -1", "0.0 ** -2"])
def test_division_by_zero(text):
    assert err(text).message == "division by zero"


def test_subscripts():
    assert ev("'abc'[1]") == "b"
    assert ev("x[True]", x=[1, 2]) == 2
    e = err("xs[5]", xs=[1, 2, 3, 4])
    assert e.message == "index 5 out of range for a sequence of length 4" and e.offset == 3
    assert "index -5 out of range" in err("xs[-5]", xs=[1, 2, 3, 4]).message
    assert "must be an int" in err("xs[1.0]", xs=[1]).message
    assert "can be indexed" in err("x[0]", x=3).message
    assert ev("xs[1:3]", xs=[1, 2, 3, 4]) == (2, 3)
    assert ev("xs[::-1]", xs=(1, 2)) == (2, 1)
    assert "step not zero" in err("xs[::0]", xs=(1, 2)).message
    assert "slice bounds must be ints" in err("xs[:'a']", xs=(1, 2)).message


# --- refused constructs and syntax errors -----------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("a.b", "attribute access is not allowed"),
    ("().__class__", "attribute access is not allowed"),
    ("x.f(1)", "attribute access is not allowed"),
    ("lambda: 1", "'lambda' is not allowed"),
    ("[i for i in x]", "comprehensions are not allowed"),
    ("f(i for i in x)", "comprehensions are not allowed"),
    ("f'{x}'", "f-strings are not allowed"),
    ("(y := 1)", "':=' is not allowed"),
    ("max(*xs)", "starred arguments are not allowed"),
    ("max(**kw)", "'**' arguments are not allowed"),
    ("{1: 2}", "dict displays are not allowed"),
    ("{1}", "set displays are not allowed"),
    ("1 is 1", "'is' is not allowed; use '==' or '!='"),
    ("~1", "'~' is not allowed"),
    ("1 << 2", "'<<' is not allowed"),
    ("1 & 2", "'&' is not allowed"),
    ("1j", "complex numbers are not allowed"),
    ("b'x'", "bytes literals are not allowed"),
    ("...", "Ellipsis is not allowed"),
    ("f(1)(2)", "only functions named directly can be called"),
    ("x[1:2, 3]", "only a single slice is allowed inside [...]"),
    ("round(1, ndigits=1, ndigits=2)", "keyword argument 'ndigits' repeated"),
    ("await x", "'await' is not allowed"),
])
def test_refused_constructs(text, message):
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert info.value.message == message


def test_refused_construct_offset_points_at_node():
    assert parse_offset("1 + a.b") == 4
    assert parse_offset("1 + (lambda: 2)") == 5


def parse_offset(text: str) -> int:
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    return info.value.offset


@pytest.mark.parametrize("text, offset", [
    ("a +* b", 3), ("é + +* b", 5), ("a b", 2), ("  a +* b", 5), ("(1,\n  +* 2)", 7),
])
def test_syntax_error_offsets(text, offset):
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert info.value.message == "invalid syntax"
    assert info.value.offset == offset


def test_offsets_count_characters_not_bytes():
    assert err("'ééé' + x").offset == 8


def test_leading_whitespace_and_trailing_newline():
    assert ev("  1 + 2\n") == 3
    assert err("  widht", width=1).offset == 2


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty(text):
    with pytest.raises(ExprError, match="empty expression"):
        parse_expr(text)


def test_other_bad_text():
    for text in ["a\0b", "'\ud800'", "1 +", "[1, 2", "yield x", "a if b"]:
        with pytest.raises(ExprError):
            parse_expr(text)


# --- safety bounds -----------------------------------------------------------------------------

def fast(func) -> ExprError:
    start = time.perf_counter()
    with pytest.raises(ExprError) as info:
        func()
    assert time.perf_counter() - start < 0.5
    return info.value


def test_huge_powers_fail_fast():
    assert "exponent" in fast(lambda: ev("10**100")).message
    assert "exponent" in fast(lambda: ev("2**10**10")).message
    assert "exponent" in fast(lambda: ev("x ** y", x=2, y=10**18)).message
    assert ev("2 ** 64") == 2**64
    assert fast(lambda: ev("2 ** 64 * 2")).message == "integer result too large"
    assert fast(lambda: ev("3 ** 64")).message == "integer result too large"
    assert ev("2 ** -64") == 2.0**-64


def test_integer_bound_applies_to_every_operation():
    assert ev("x + 0", x=2**64) == 2**64
    for text in ["x + 1", "-x - 1", "x * x", "x * 2", "int(1e300)", "ceil(1e300)", "round(1e300)", "sum([x, x])"]:
        assert fast(lambda: ev(text, x=2**64)).message.endswith("too large"), text
    assert "integer literal too large" in fast(lambda: parse_expr("1" * 30)).message


def test_float_bounds():
    assert err("1e308 * 10").message == "float result out of range"
    assert err("10.0 ** 400").message == "float result out of range"
    assert err("2 ** 4000.0").message == "float result out of range"
    assert err("1e308 // 1e-10").message == "float result out of range"
    assert err("x * 1.0", x=float("inf")).message == "float result out of range"
    assert "float literal out of range" in fast(lambda: parse_expr("1e999")).message
    assert "complex" in err("(-8) ** 0.5").message


def test_sequence_bounds():
    assert len(ev("'a' * 10000")) == 10000
    assert "too long" in fast(lambda: ev("'a' * 10001")).message
    assert "too long" in fast(lambda: ev("(1,) * (2 ** 64)")).message
    assert "too long" in fast(lambda: ev("s * 2", s="ab" * 5001)).message
    assert "too long" in fast(lambda: ev("s + s", s="a" * 6000)).message
    assert "too long" in fast(lambda: ev("t + t", t=[0] * 6000)).message
    # Nested items count: otherwise `(t,) * 10000 == (t + (0,),) * 10000` compares 10**8 items.
    assert "too long" in fast(lambda: ev("(t,) * 10000", t=[0] * 100)).message
    assert "too long" in fast(lambda: ev("(t, t)", t=[0] * 6000)).message
    assert ev("(t,) * 99", t=[0] * 100) == ((0,) * 100,) * 99
    assert ev("len(t) + t[-1]", t=list(range(100_000))) == 199_999


def test_nesting_and_length_bounds():
    assert "too long" in fast(lambda: parse_expr("(" * 10000)).message
    fast(lambda: parse_expr("(" * 1000))
    assert "nested too deeply" in fast(lambda: parse_expr("-" * 1999 + "1")).message
    assert "nested too deeply" in fast(lambda: parse_expr("[" * 60 + "]" * 60)).message
    assert "nested too deeply" in fast(lambda: parse_expr("2**" * 60 + "1")).message  # right-leaning: real nesting
    assert "nested too deeply" in fast(lambda: parse_expr("1-(" * 60 + "1" + ")" * 60)).message


def test_a_long_flat_chain_is_not_nesting():
    """`1+1+...+1` is a left-leaning chain, walked in a loop: its length is bounded by MAX_SOURCE only."""
    assert ev("+".join(["1"] * 60)) == 60
    longest = "-".join(["x"] * 1000)  # 1,999 characters, just under MAX_SOURCE
    assert ev(longest, x=1) == 1 - 999
    assert ev("1 + 2 * 3 - 4 // 2 + " + "+".join(["1"] * 900)) == sum([1, 6, -2]) + 900
    call = parse_call("f(" + "+".join(["1"] * 990) + ", k=2 * 3)")  # arguments are copied without recursion
    assert call.args[0].evaluate({}) == 990 and call.kwargs[0][1].evaluate({}) == 6
    assert "too long" in fast(lambda: parse_expr("x" * 2001)).message


def test_python_escape_hatches_are_refused():
    assert fast(lambda: ev("__import__('os')")).message == "unknown function '__import__'"
    assert "unknown name '__builtins__'" in fast(lambda: ev("__builtins__")).message
    with pytest.raises(ExprError, match="attribute"):
        parse_expr("().__class__.__bases__[0].__subclasses__()")
    assert err("open('x')").message.startswith("unknown function 'open'")
    assert err("eval('1')").message.startswith("unknown function 'eval'")


def test_deeply_nested_env_values_do_not_escape():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ExprError):
        ev("x == x", x=deep)


# --- helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("min(3, 1, 2)", 1), ("min([4, 5])", 4), ("max(3, 1.5)", 3), ("max(xs)", 9), ("min(xs)", 1),
    ("abs(-3)", 3), ("abs(-2.5)", 2.5), ("abs(True)", 1),
    ("round(2.5)", 2), ("round(3.5)", 4), ("round(0.5)", 0), ("round(-2.5)", -2), ("round(2.675, 2)", 2.67),
    ("round(1234, -2)", 1200), ("round(1.25, ndigits=1)", 1.2), ("round(7)", 7),
    ("ceil(1.2)", 2), ("ceil(-1.2)", -1), ("floor(1.8)", 1), ("floor(-1.2)", -2), ("ceil(3)", 3),
    ("int(3.9)", 3), ("int(-3.9)", -3), ("int('12')", 12), ("int(True)", 1),
    ("float(3)", 3.0), ("float('1e-3')", 0.001),
    ("bool(0)", False), ("bool([])", False), ("bool('a')", True),
    ("len(xs)", 3), ("len('abcd')", 4), ("len([])", 0),
    ("sum(xs)", 15), ("sum([])", 0), ("sum([0.5, 1])", 1.5),
])
def test_helpers(text, expected):
    result = ev(text, xs=[1, 5, 9])
    assert result == expected
    assert type(result) is type(expected)


# Values worked out by hand from torchvision's formula:
#   new_v = max(min_value, int(v + divisor / 2) // divisor * divisor); if new_v < 0.9 * v: new_v += divisor
@pytest.mark.parametrize("text, expected", [
    ("make_divisible(32 * 1.1, 8)", 32),       # int(39.2) // 8 * 8 = 32; 32 >= 31.68
    ("make_divisible(32 * 0.35, 8)", 16),      # int(15.2) // 8 * 8 = 8; 8 < 10.08, so 16
    ("make_divisible(3, 8)", 8),               # int(7) // 8 * 8 = 0; min_value 8
    ("make_divisible(100)", 104),              # int(104) // 8 * 8 = 104
    ("make_divisible(91, 8)", 88),             # int(95) // 8 * 8 = 88; 88 >= 81.9
    ("make_divisible(90, 16)", 96),            # int(98) // 16 * 16 = 96
    ("make_divisible(10, 8, min_value=1)", 16),  # int(14) // 8 * 8 = 8; 8 < 9, so 16
    ("make_divisible(10, divisor=8, min_value=1)", 16),
    ("make_divisible(1, 8, 1)", 1),            # int(5) // 8 * 8 = 0; max(1, 0) = 1; 1 >= 0.9
    ("scale_width(32, 1.1)", 32),
    ("scale_width(40, 1.4)", 56),              # 56.0: int(60.0) // 8 * 8 = 56
    ("scale_width(24, 1.2, divisor=4)", 28),   # 28.8: int(30.8) // 4 * 4 = 28; 28 >= 25.92
    ("scale_depth(3, 1.1)", 4),                # ceil(3.3000000000000003), not round
    ("scale_depth(1, 1.0)", 1),
    ("scale_depth(2, 3.1)", 7),                # ceil(6.2)
    ("scale_depth(4, 1.8)", 8),                # ceil(7.2)
])
def test_make_divisible_and_scaling_by_hand(text, expected):
    assert ev(text) == expected


def test_make_divisible_matches_torchvision():
    utils = pytest.importorskip("torchvision.models._utils")
    for v in (0.5, 3, 8, 11.2, 35.2, 37, 55.99, 96, 100, 1000.4, 1280 * 0.75, 32 * 0.35, 16 * 1.1):
        for divisor in (1, 4, 8, 16):
            assert ev("make_divisible(v, d)", v=v, d=divisor) == utils._make_divisible(v, divisor)
            assert ev("make_divisible(v, d, min_value=2)", v=v, d=divisor) == utils._make_divisible(v, divisor, 2)


def test_efficientnet_scaling_matches_torchvision():
    effnet = pytest.importorskip("torchvision.models.efficientnet")
    for channels in (16, 24, 40, 80, 112, 192, 320):
        for mult in (1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0):
            assert ev("scale_width(c, m)", c=channels, m=mult) == effnet.MBConvConfig.adjust_channels(channels, mult)
    for layers in (1, 2, 3, 4):
        for mult in (1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1):
            assert ev("scale_depth(n, m)", n=layers, m=mult) == effnet.MBConvConfig.adjust_depth(layers, mult)


@pytest.mark.parametrize("text, fragment", [
    ("abs()", "abs(): missing a required argument: 'x'; expected abs(x)"),
    ("abs(1, 2)", "abs(): too many positional arguments; expected abs(x)"),
    ("abs(x=1)", "expected abs(x)"),
    ("make_divisible(v=3)", "expected make_divisible(v, divisor=8, min_value=None)"),
    ("scale_width(8, 1.0, min_value=3)", "expected scale_width(channels, width_mult, divisor=8)"),
    ("min()", "min() needs at least one argument"),
    ("min([])", "min() of an empty sequence"),
    ("max(1, 'a')", "max() expects a finite number, got str"),
    ("abs('a')", "abs() expects a finite number, got str"),
    ("len(3)", "len() expects a sequence or a string, got int"),
    ("sum(3)", "sum() expects a sequence, got int"),
    ("round(1.5, 1.0)", "round() ndigits must be an int"),
    ("round(1.5, 100)", "round() ndigits must be an int between -64 and 64"),
    ("make_divisible(10, 0)", "make_divisible() divisor must be an int between 1"),
    ("make_divisible(10, 2.5)", "make_divisible() divisor must be an int"),
    ("int('x')", "int() cannot convert the string 'x'"),
    ("float('nan')", "float result out of range"),
    ("ceil(x)", "ceil() expects a finite number, got float"),
    ("mak_divisible(3)", "unknown function 'mak_divisible'; did you mean 'make_divisible'?"),
    ("foo(1)", "unknown function 'foo'"),
])
def test_helper_errors(text, fragment):
    assert fragment in err(text, x=float("nan")).message


def test_helper_error_offset_points_at_helper_name():
    assert err("1 + abs('a')").offset == 4
    assert err("1 + foo(1)").offset == 4


def test_helpers_mapping_is_read_only_and_callable():
    assert HELPERS["make_divisible"](35.2) == 32
    assert set(HELPERS) >= {"min", "max", "make_divisible", "scale_width", "scale_depth", "round"}
    with pytest.raises(TypeError):
        HELPERS["eval"] = eval  # type: ignore[index]
    with pytest.raises(ExprError):
        HELPERS["abs"]("a")


# --- Expr object -------------------------------------------------------------------------------

def test_expr_is_frozen_hashable_and_reusable():
    e = parse_expr("a * 2")
    assert e == Expr("a * 2") and hash(e) == hash(Expr("a * 2"))
    assert [e.evaluate({"a": i}) for i in range(3)] == [0, 2, 4]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.source = "b"  # type: ignore[misc]
    with pytest.raises(ExprError):
        Expr("a.b")


# --- parse_call --------------------------------------------------------------------------------

def test_parse_call_bare_name():
    assert parse_call("relu") == Call("relu", (), (), 0, (), ())
    assert parse_call("  relu").name_offset == 2


def test_parse_call_with_args():
    call = parse_call("conv2d(64, 3, stride=2 * s, padding=k // 2)")
    assert call.name == "conv2d" and call.name_offset == 0
    assert [a.source for a in call.args] == ["64", "3"]
    assert call.arg_offsets == (7, 11)
    assert [(k, v.source) for k, v in call.kwargs] == [("stride", "2 * s"), ("padding", "k // 2")]
    assert call.kwarg_offsets == (14, 28)
    assert call.kwargs[0][1].evaluate({"s": 2}) == 4
    assert call.kwargs[1][1].names() == frozenset({"k"})
    assert parse_call("relu()") == Call("relu", (), (), 0, (), ())


def test_parse_call_argument_errors_are_relative_to_the_argument():
    call = parse_call("conv2d(64, widht * 2)")
    with pytest.raises(ExprError) as info:
        call.args[1].evaluate({"width": 1})
    assert info.value.offset == 0
    assert call.arg_offsets[1] + info.value.offset == 11


def test_parse_call_multiline_and_parenthesized_args():
    call = parse_call("block(a +\n  b, (c))")
    assert call.args[0].source == "a +\n  b"
    assert call.args[0].evaluate({"a": 1, "b": 2}) == 3
    assert call.args[1].source == "c"
    assert call.arg_offsets == (6, 16)
    with pytest.raises(ExprError) as info:
        call.args[0].evaluate({"a": 1, "b": "x"})
    assert info.value.offset == 2


@pytest.mark.parametrize("text", ["nn.Conv2d(3)", "a + b", "f(x)(y)", "1", "conv(64)[0]", "'relu'"])
def test_parse_call_refuses_other_shapes(text):
    with pytest.raises(ExprError, match="expected 'name' or 'name\\(args...\\)'|attribute|only functions"):
        parse_call(text)


@pytest.mark.parametrize("text", ["conv(*xs)", "conv(**kw)", "conv(a=1, a=2)", "conv(x.y)", "conv(64,", "conv(lambda: 1)"])
def test_parse_call_refuses_bad_args(text):
    with pytest.raises(ExprError):
        parse_call(text)


def test_parse_call_shape_error_message():
    with pytest.raises(ExprError) as info:
        parse_call("a + b")
    assert info.value.message == "expected 'name' or 'name(args...)', got 'a + b'"


# --- templates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("denselayer{i+1}", "denselayer3"), ("plain", "plain"), ("", ""), ("{{i}}", "{i}"),
    ("{{{i}}}", "{2}"), ("{name}_{i}", "blk_2"), ("a{ i * 2 }b", "a4b"), ("x{-i}", "x-2"),
    ("{'s' if i else 't'}", "s"),
])
def test_templates(text, expected):
    assert render_template(text, {"i": 2, "name": "blk"}) == expected


@pytest.mark.parametrize("text, message, offset", [
    ("layer{i", "unclosed '{' in template", 5),
    ("layer}i", "single '}' in template; write '}}' for a literal brace", 5),
    ("a{b{c}}", "unclosed '{' in template", 1),
    ("x{}", "empty expression", 2),
    ("x{1.5}", "template value must be an int or a string, got float 1.5", 2),
    ("x{True}", "template value must be an int or a string, got bool True", 2),
    ("x{(1, 2)}", "template value must be an int or a string, got tuple (1, 2)", 2),
    ("layer{widht}", "unknown name 'widht'; did you mean 'width'?", 6),
    ("ab{1 +* 2}", "invalid syntax", 6),
])
def test_template_errors(text, message, offset):
    with pytest.raises(ExprError) as info:
        render_template(text, {"width": 1})
    assert (info.value.message, info.value.offset) == (message, offset)


# --- did_you_mean ------------------------------------------------------------------------------

def test_did_you_mean():
    assert did_you_mean("widht", ["width", "depth"]) == "; did you mean 'width'?"
    assert did_you_mean("zzz", ["width", "depth"]) == ""
    assert did_you_mean("x", []) == ""
    assert did_you_mean("strid", iter(["stride", "stride2"])) == "; did you mean 'stride'?"


def test_error_str_is_the_message():
    e = err("1 / 0")
    assert str(e) == "division by zero" and e.offset == 2


# --- robustness: only ExprError ever escapes ---------------------------------------------------

scalar_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
env_values = st.recursive(scalar_values, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=8)
envs = st.fixed_dictionaries({name: env_values for name in ("a", "b", "c")})

ATOMS = ["a", "b", "c", "0", "1", "2", "-1", "2.5", "1e308", "64", "'s'", "''", "true", "null", "None",
         "[]", "[1, 2]", "(a,)", "x", "max", "len(a)"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]
CALLS = list(HELPERS) + ["foo", "eval"]


def expression_text() -> st.SearchStrategy[str]:
    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(OPS), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["-", "+", "not "]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(st.sampled_from(CALLS), st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, inner).map(lambda t: f"make_divisible({t[0]}, divisor={t[1]})"),
            st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        )
    return st.recursive(st.sampled_from(ATOMS), extend, max_leaves=12)


def only_expr_errors(text: str, env: dict) -> None:
    try:
        parse_expr(text).evaluate(env)
    except ExprError as e:
        assert isinstance(e.message, str) and isinstance(e.offset, int)
        assert 0 <= e.offset <= len(text)
    try:
        call = parse_call(text)
        for arg in call.args:
            arg.evaluate(env)
    except ExprError:
        pass
    try:
        render_template(text, env)
    except ExprError:
        pass


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=40), envs)
def test_random_text_raises_only_expr_error(text, env):
    only_expr_errors(text, env)


@FAST
@given(st.text(alphabet="ab01.()[]{}+-*/%<>=!,:'\"~&|^@ notandorifelse", max_size=40), envs)
def test_operator_soup_raises_only_expr_error(text, env):
    only_expr_errors(text, env)


@FAST
@given(expression_text(), envs)
def test_random_expressions_raise_only_expr_error(text, env):
    start = time.perf_counter()
    only_expr_errors(text, env)
    assert time.perf_counter() - start < 1.0


@FAST
@given(st.integers(-(2**64), 2**64), st.integers(-(2**64), 2**64), st.sampled_from(OPS))
def test_int_arithmetic_matches_python_within_bounds(x, y, op):
    try:
        result = ev(f"x {op} y", x=x, y=y)
    except ExprError:
        return
    assert op not in ("in", "not in"), "'in' on ints must be an error"
    if op == "**":
        assert abs(y) <= 64
    expected = eval(f"x {op} y", {}, {"x": x, "y": y})  # the test's oracle, never the code under test
    if isinstance(expected, float):
        assert math.isclose(result, expected)
    else:
        assert result == expected and abs(result) <= 2**64
