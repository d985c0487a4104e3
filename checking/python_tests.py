"""`python_tests`: the built-in verifier that runs a draft's program against the run's visible tests.

The program is the draft's last fenced Python block (the run's answer), cut to its definitions
(`sanitize`: no top-level example calls or prints); the tests are the run's `tests`, one test per
`assert`, the other statements their setup. Both run in the `python` tool's sandbox (`run_python`),
each test with its own time limit, and each gives one `TestResult`: passed, or the expected value
against the one the program returned, or the error with its last traceback line in the program. A run
without tests still gets a check: the program loads and defines the functions the task declares
(`def name(` in the question). A program that passes every visible test is also run on probe inputs
made from the tests' arguments (`langgraph_pdr.checking.probes`): what it returns there is kept in the
check (`Check.probes`), not graded, so that drafts which agree beyond the visible tests can be told
from drafts which do not (the answer's execution agreement, `pass_quorum`).

Feedback is bounded to `FEEDBACK_TOKENS` tokens: the count of tests passed, then each failed test.
"""

from __future__ import annotations

import json
import secrets
from importlib import resources
from typing import Any

from langgraph_pdr.calls.token_count import cut_to_tokens
from langgraph_pdr.checking.probes import probe_inputs
from langgraph_pdr.checking.programs import called_names, defined_names, sanitize, split_tests
from langgraph_pdr.checking.verifier import BaseVerifier, CheckRequest
from langgraph_pdr.state.records import Check, TestResult
from langgraph_pdr.tooling.sandboxed_python import run_python

#: Feedback is cut to this many tokens (the run's token counter).
FEEDBACK_TOKENS = 256
#: Seconds one test (or loading the program) may take.
TEST_SECONDS = 5.0
#: Seconds one probe input may take, and all of a draft's probes together.
PROBE_SECONDS = 1.0
PROBES_BUDGET_S = 8.0
#: Wall time of the whole check at most, whatever the number of tests.
MAX_WALL_S = 60.0
HARNESS = resources.files("langgraph_pdr.checking").joinpath("check_harness.py").read_text("utf-8")


def _events(stdout: str, nonce: str) -> list[dict[str, Any]]:
    """The harness's report lines (led by the nonce), parsed; anything else the program wrote is not
    a report."""
    found = []
    for line in stdout.splitlines():
        if line.startswith(nonce):
            try:
                value = json.loads(line[len(nonce) :])
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def failure_line(result: TestResult) -> str:
    """One failed test as feedback shows it."""
    if result.error:
        where = f" ({result.line})" if result.line else ""
        return f"Failed: {result.test}\n  raised {result.error}{where}"
    if result.expected is not None or result.got is not None:
        return f"Failed: {result.test}\n  expected {result.expected}, got {result.got}"
    return f"Failed: {result.test}"


class PythonTests(BaseVerifier):
    """Runs the draft's program against the run's visible tests (see the module docstring).

    Example:
        ```python
        from langgraph_pdr import CheckRequest, Draft, PDRConfig, Utf8TokenCounter
        from langgraph_pdr.checking import PythonTests

        program = "def add(a, b):\\n    return a + b"
        request = CheckRequest(question="Write add(a, b).", draft=Draft(round=1, index=0), answer=program,
                               tests="assert add(2, 2) == 4\\nassert add(1, -1) == 0", config=PDRConfig(),
                               counter=Utf8TokenCounter())
        check = PythonTests().check(request)
        assert check.passed and check.score == 1.0 and [t.output for t in check.tests] == ["4", "0"]
        ```
    """

    name = "python_tests"
    answers = "program"

    def check(self, request: CheckRequest) -> Check:
        where = {"round": request.draft.round, "index": request.draft.index, "verifier": self.name}
        setup, tests = split_tests(request.tests)
        if request.answer is None:
            feedback = "No program: the reply has no complete ```python code block."
            return Check(**where, passed=False, score=0.0, feedback=feedback)
        entry = called_names(tests) if tests else defined_names(request.question)
        nonce = secrets.token_hex(8)
        name, inputs = probe_inputs(tests)
        probe = None
        if name is not None:
            probe = {
                "name": name,
                "inputs": repr(inputs),
                "seconds": PROBE_SECONDS,
                "budget": PROBES_BUDGET_S,
            }
        payload = {
            "program": sanitize(request.answer, entry or None),
            "setup": setup,
            "tests": tests,
            "entry_points": [] if tests else entry,
            "seconds": TEST_SECONDS,
            "nonce": nonce,
            "probe": probe,
        }
        wall = min(MAX_WALL_S, TEST_SECONDS * (len(tests) + 2) + 5 + (PROBES_BUDGET_S if probe else 0))
        run = run_python(
            f"{HARNESS}\nmain({json.dumps(json.dumps(payload))})\n",
            wall_s=wall,
            cpu_s=int(wall) + 1,
            output_chars=1_000_000,
        )
        return self._check(request, where, tests, _events(run.stdout, nonce), run.exception, run.seconds)

    def _check(
        self,
        request: CheckRequest,
        where: dict[str, Any],
        tests: list[str],
        events: list[dict[str, Any]],
        ended: str | None,
        seconds: float,
    ) -> Check:
        results = [TestResult(**e["result"]) for e in events if "result" in e]
        load = next((e for e in events if "load_error" in e), None)
        setup = next((e for e in events if "setup_error" in e), None)
        missing: list[str] = next((e["missing"] for e in events if "missing" in e), [])
        probes: list[Any] = next((e["probes"] for e in events if isinstance(e.get("probes"), list)), [])
        done = any(e.get("done") for e in events)
        notes: list[str] = []
        if load is not None:
            line = f" ({load['line']})" if load.get("line") else ""
            notes.append(f"The program failed to load: {load['load_error']}{line}")
        elif setup is not None:
            notes.append(f"The tests' setup failed: {setup['setup_error']}")
        elif not done:  # the sandbox ended it: the test it was running did not finish
            started = [e["started"] for e in events if "started" in e]
            if started and len(results) == started[-1]:
                reason = ended or "the process ended"
                results.append(
                    TestResult(test=tests[started[-1]], passed=False, error=f"did not finish: {reason}")
                )
            elif not events:
                notes.append(f"The program could not be run: {ended or 'the sandbox reported nothing'}")
        if missing:
            notes.append(f"The program does not define {', '.join(missing)}.")
        passed_tests = sum(r.passed for r in results)
        if tests:
            score = passed_tests / len(tests)
        else:
            score = 1.0 if done and not missing else 0.0
        passed = score == 1.0 and load is None and setup is None
        feedback = self._feedback(request, tests, results, notes, passed_tests)
        return Check(
            **where,
            passed=passed,
            score=score,
            feedback=feedback,
            tests=results,
            probes=[str(p) for p in probes] if passed else [],
            seconds=seconds,
        )

    def _feedback(
        self,
        request: CheckRequest,
        tests: list[str],
        results: list[TestResult],
        notes: list[str],
        passed_tests: int,
    ) -> str:
        counter = request.counter
        head = [f"Passed {passed_tests} of {len(tests)} visible tests."] if tests else []
        if not tests and not notes:
            head = ["The program loads and defines the task's functions (no visible tests)."]
        lines = [*head, *notes]
        failed = [r for r in results if not r.passed]
        not_run = len(tests) - len(results) if tests and not notes else 0
        for n, result in enumerate(failed):
            line = failure_line(result)
            rest = len(failed) - n - 1
            tail = f"... and {rest} more failed tests." if rest else ""
            if counter.count("\n".join([*lines, line, tail])) > FEEDBACK_TOKENS:
                lines.append(f"... and {len(failed) - n} more failed tests.")
                break
            lines.append(line)
        if not_run > 0:
            lines.append(f"{not_run} tests did not run.")
        return cut_to_tokens("\n".join(lines), FEEDBACK_TOKENS, counter)
