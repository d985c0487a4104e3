"""The code the code grader runs in the sandbox: EvalPlus's differential test of one program on one set of
hidden inputs (its `unsafe_execute`, ported; Apache-2.0, see `data/LICENSE-evalplus`).

It is sent to the sandboxed interpreter as source (followed by a call of `main` with its payload), so it
imports nothing of ours. The reference solution runs first, in the same process, for the expected
outputs and their times; then the program, each input with the time limit EvalPlus gives it
(`max(4 s, 4 x the reference's time)`), stopping at the first input it fails. The verdict is one JSON
line on the standard output it was started with, led by a nonce; what the programs print goes to
/dev/null.
"""

import copy
import json
import math
import os
import signal
import sys
import time

MIN_TIME_LIMIT = 4.0
TIME_LIMIT_FACTOR = 4.0
MAX_TOTAL_S = 60.0

# EvalPlus's special oracles (evalplus/eval/_special_oracle.py)
MBPP_OUTPUT_NOT_NONE_TASKS = ["check_str", "text_match_three", "text_starta_endb"]
MBPP_OUTPUT_SET_EQ_TASKS = [
    "similar_elements",
    "find_char_long",
    "common_in_nested_lists",
    "extract_singly",
    "larg_nnum",
    "intersection_array",
    "find_dissimilar",
    "Diff",
]


def surface_area(base_edge, height):  # Mbpp/581
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def digit_distance_nums(num1, num2):  # Mbpp/558
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width), strict=True))


def poly(xs, x):  # HumanEval/32
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def mbpp_inputs(task_id, inputs):
    """EvalPlus's `mbpp_deserialize_inputs`: the tuples, sets and complex numbers JSON cannot hold."""
    n = int(task_id.split("/")[-1])
    if n in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726,
             740, 744, 809):  # fmt: skip
        return [[tuple(lst) for lst in inp] for inp in inputs]
    if n in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
    if n in (75, 413, 444, 753):
        return [[[tuple(lst) for lst in inp[0]]] + [inp[1]] for inp in inputs]
    if n in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [
            [[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs
        ]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n in (259, 401, 445):
        out = [[[tuple(lst) for lst in lst_lst] for lst_lst in inp] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in out]
    if n == 278:
        out = [[[tuple(item) if isinstance(item, list) else item for item in inp[0]]] for inp in inputs]
        return [[tuple(lst) for lst in inp] for inp in out]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{key: tuple(value) for key, value in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in (580, 615, 791):

        def tupled(inp):
            return tuple(tupled(item) for item in inp) if isinstance(inp, list) else inp

        return [tupled(inp) for inp in inputs]
    return inputs


class TimedOut(BaseException):
    pass


def alarm(signum, frame):
    raise TimedOut()


def limited(seconds, fn):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def is_floats(x):
    import numpy as np

    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    if isinstance(x, np.ndarray):
        return x.dtype == np.float64 or x.dtype == np.float32
    return False


def same(kind, entry_point, inp, out, exp, atol):
    """EvalPlus's comparison of an output with the expected one (its special oracles included)."""
    import numpy as np

    exact = out == exp
    if kind == "mbpp":
        if entry_point == "are_equivalent":  # Mbpp/164
            exact = True
        elif entry_point == "sum_div":  # Mbpp/295
            exact = exact or out == 0
        elif entry_point == "surface_Area":  # Mbpp/581
            exact = exact or abs(out - surface_area(*inp)) <= atol
        elif entry_point == "digit_distance_nums":  # Mbpp/558
            exact = exact or out == digit_distance_nums(*inp)
        elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
            exact = set(out) == set(exp)
        elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
            exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    if kind == "humaneval" and entry_point == "find_zero":
        return abs(poly(inp[0], out)) <= atol
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        if type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        return bool(np.allclose(out, exp, rtol=1e-07, atol=atol))
    return bool(exact)


def main(payload_json):
    payload = json.loads(payload_json)
    out = os.fdopen(os.dup(1), "w")
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    signal.signal(signal.SIGALRM, alarm)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    kind, entry, atol = payload["kind"], payload["entry_point"], payload["atol"]

    def verdict(status, **detail):
        out.write(payload["nonce"] + json.dumps({"status": status, **detail}) + "\n")
        out.flush()

    inputs = payload["inputs"]
    if kind == "mbpp":
        inputs = mbpp_inputs(payload["task_id"], inputs)
    reference: dict = {}
    exec(compile(payload["reference"], "<reference>", "exec"), reference)  # noqa: S102
    ref = reference[entry]
    expected, times = [], []
    for inp in inputs:
        started = time.perf_counter()
        value = ref(*copy.deepcopy(inp))
        times.append(time.perf_counter() - started)
        if kind == "mbpp" and entry in MBPP_OUTPUT_NOT_NONE_TASKS:
            value = value is not None
        expected.append(value)
    limits = [max(MIN_TIME_LIMIT, TIME_LIMIT_FACTOR * t) for t in times]
    budget = min(MAX_TOTAL_S, sum(limits)) + 1
    started = time.perf_counter()
    namespace: dict = {"__name__": "solution"}
    try:
        limited(budget, lambda: exec(compile(payload["program"], "<program>", "exec"), namespace))  # noqa: S102
        fn = namespace[entry]
    except TimedOut:
        verdict("timeout", at="load")
        return
    except BaseException as exc:  # noqa: BLE001 - the program's failure is the verdict
        verdict("fail", at="load", error=f"{type(exc).__name__}: {exc}"[:300])
        return
    for i, inp in enumerate(inputs):
        left = budget - (time.perf_counter() - started)
        if left <= 0:
            verdict("timeout", at=i)
            return
        try:
            value = limited(min(limits[i], left), lambda inp=inp: fn(*copy.deepcopy(inp)))
            ok = same(kind, entry, inp, value, expected[i], atol)
        except TimedOut:
            verdict("timeout", at=i)
            return
        except BaseException as exc:  # noqa: BLE001
            verdict("fail", at=i, error=f"{type(exc).__name__}: {exc}"[:300])
            return
        if not ok:
            verdict("fail", at=i)
            return
    verdict("pass", inputs=len(inputs))
