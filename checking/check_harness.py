"""The code `python_tests` runs in the sandbox: it loads a program, runs its visible tests one by one
and reports each result as one JSON line on the standard output it was started with; a program that
passed every test is then run on the probe inputs (`langgraph_pdr.checking.probes`), whose outputs are
reported in one line.

It is sent to the sandboxed interpreter as source (followed by a call of `main` with its payload), so
it imports nothing of ours. What the program prints goes to /dev/null; results are written only by
this code, each line led by a nonce the program is not given.
"""

import ast
import copy
import json
import linecache
import operator
import os
import signal
import sys
import time
import traceback

#: A value shown in a result (expected, got, an output) is cut to this many characters.
SHOWN = 300
OPERATORS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class TimedOut(BaseException):
    """A test (or loading the program) ran past its time limit."""


def alarm(signum, frame):
    raise TimedOut()


def shown(value):
    try:
        text = repr(value)
    except BaseException as exc:  # noqa: BLE001 - a repr the program broke
        text = f"<no repr: {type(exc).__name__}>"
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def error(exc):
    """(`Type: message`, the last traceback line inside the program) of an exception."""
    try:
        said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except BaseException:  # noqa: BLE001 - a message the program broke
        said = type(exc).__name__
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<program>":
            line = f"line {frame.lineno}: {(frame.line or '').strip()}"
    return said[:500], line


def limited(seconds, fn):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_test(source, namespace, seconds):
    node = ast.parse(source).body[0]
    condition = node.test
    result = {"test": source, "passed": False}
    try:
        if isinstance(condition, ast.Compare) and len(condition.ops) == 1:
            left = compile(ast.Expression(condition.left), "<test>", "eval")
            right = compile(ast.Expression(condition.comparators[0]), "<test>", "eval")
            got = limited(seconds, lambda: eval(left, namespace))  # noqa: S307 - the test's own code
            result["output"] = shown(got)
            expected = limited(seconds, lambda: eval(right, namespace))  # noqa: S307
            if bool(OPERATORS[type(condition.ops[0])](got, expected)):
                result["passed"] = True
            else:
                result["expected"], result["got"] = shown(expected), shown(got)
        else:
            code = compile(ast.Module(body=[node], type_ignores=[]), "<test>", "exec")
            limited(seconds, lambda: exec(code, namespace))  # noqa: S102
            result["passed"] = True
    except TimedOut:
        result["error"] = f"TimedOut: did not finish within {seconds:g} s"
    except AssertionError as exc:
        said, line = error(exc)
        if line is not None:  # raised inside the program, not by the test's own assert
            result["error"], result["line"] = said, line
    except BaseException as exc:  # noqa: BLE001 - the program's failure is the result
        result["error"], result["line"] = error(exc)
    return result


def run_probes(probe, namespace, seconds, budget):
    """What the program's function returns (its repr) or raises (`!TypeName`) on each probe input,
    each within `seconds`, all within `budget` seconds (the ones left over are `!skipped`)."""
    function = namespace.get(probe["name"])
    if not callable(function):
        return []
    try:
        inputs = ast.literal_eval(probe["inputs"])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    outputs, left = [], budget
    for args in inputs:
        if left <= 0:
            outputs.append("!skipped")
            continue
        started = time.monotonic()
        try:
            call = lambda args=args: function(*copy.deepcopy(args))  # noqa: E731
            outputs.append(shown(limited(min(seconds, left), call)))
        except TimedOut:
            outputs.append("!timeout")
        except BaseException as exc:  # noqa: BLE001 - what it raises is its output
            outputs.append("!" + type(exc).__name__)
        left -= time.monotonic() - started
    return outputs


def main(payload_json):
    payload = json.loads(payload_json)
    nonce, seconds = payload["nonce"], payload["seconds"]
    out = os.fdopen(os.dup(1), "w")
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    signal.signal(signal.SIGALRM, alarm)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def report(**event):
        out.write(nonce + json.dumps(event) + "\n")
        out.flush()

    namespace: dict = {"__name__": "solution"}
    program = payload["program"]
    linecache.cache["<program>"] = (len(program), None, program.splitlines(True), "<program>")
    try:
        code = compile(program, "<program>", "exec")
        limited(seconds, lambda: exec(code, namespace))  # noqa: S102 - running it is the point
    except TimedOut:
        report(load_error=f"TimedOut: loading the program did not finish within {seconds:g} s", line=None)
        return
    except BaseException as exc:  # noqa: BLE001
        said, line = error(exc)
        report(load_error=said, line=line)
        return
    missing = [n for n in payload["entry_points"] if not callable(namespace.get(n))]
    if missing:
        report(missing=missing)
    if payload["setup"]:
        try:
            limited(seconds, lambda: exec(compile(payload["setup"], "<tests>", "exec"), namespace))  # noqa: S102
        except BaseException as exc:  # noqa: BLE001
            said, line = error(exc)
            report(setup_error=said)
            return
    passed_all = True
    for index, test in enumerate(payload["tests"]):
        report(started=index)
        result = run_test(test, namespace, seconds)
        report(result=result)
        if (result.get("error") or "").startswith("TimedOut"):
            seconds = min(seconds, 1.0)  # a program that hangs once likely hangs again: keep it short
        passed_all = passed_all and result["passed"]
    probe = payload.get("probe")
    if probe and passed_all and not missing:  # only a program that passed every test is probed
        report(probes=run_probes(probe, namespace, probe["seconds"], probe["budget"]))
    report(done=True)
