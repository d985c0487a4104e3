"""The method grammar: a method and its options as one short string, each a `PDRConfig`.

One parser (`parse_method`) and one printer (`method_label`), used by `pdr eval --methods`, the model
names of `pdr serve` (`pdr-4-2-1-global_summary` is `pdr:4-2-1:global_summary`, see `from_model_name`)
and wherever a run's method is shown.

    single                        one pass
    sc:8  bon:8                   self-consistency / best-of-N over 8 samples
    sc:4-4:early_stop=1           self-consistency in windows of 4: stops after the first when
                                  its drafts agree, else draws 4 more and votes over all 8
    bon:4-4:stop_on_pass=1:pass_quorum=3
                                  best-of-N by checks in windows of 4: stops after the first
                                  when 3 passing drafts agree, else draws 4 more
    sr:3  sr_error:3              sequential refinement (with error analysis), 3 rounds
    pdr:4-2-1:global_summary      PDR with schedule 4,2,1 and a distiller
                                  (global_summary, shared_top_k, per_sample_top_k, majority_k,
                                  random_k, oracle_correct, oracle_incorrect)

Any method takes `key=value` options after its arguments: `max_tokens` (first drafts),
`max_tokens.refine` (later drafts), `max_tokens.verify`, `kappa`, `k`, `temperature`, `seed`,
`max_b_seq`, `max_b_total`, `prompts` (a prompt set's name), `early_stop` (a fraction), `tools`
(built-in tool names joined by `+`, e.g. `tools=python`), `max_tool_calls`, `tool_format` (`auto`,
`native`, `fenced`), `tool_timeout` (seconds), `selector` (`vote`, `tournament`), `verifier` (a
verifier's name, e.g. `python_tests`), `stop_on_pass` (`true` or `false`), `pass_quorum`, e.g.
`pdr:4-2-1:random_k:k=1:kappa=512`, `single:max_tokens=2048`, `pdr:4-4:majority_k:early_stop=1` or
`single:tools=python:tool_format=fenced`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from langgraph_pdr.state.config import DEFAULT_SCHEDULES, SAMPLING_METHODS, PDRConfig, validation_message

#: Short names and the PDRConfig method each stands for.
ALIASES: dict[str, str] = {
    "single": "single",
    "sc": "self_consistency",
    "self_consistency": "self_consistency",
    "bon": "best_of_n",
    "best_of_n": "best_of_n",
    "sr": "sr",
    "sr_error": "sr_error",
    "pdr": "pdr",
}
SHORT = {"self_consistency": "sc", "best_of_n": "bon"}
OPTIONS = (
    "max_tokens",
    "max_tokens.draft",
    "max_tokens.refine",
    "max_tokens.verify",
    "max_tokens.distill",
    "max_tokens.critique",
    "kappa",
    "k",
    "temperature",
    "temperature.draft",
    "temperature.verify",
    "temperature.distill",
    "temperature.critique",
    "seed",
    "max_b_seq",
    "max_b_total",
    "max_concurrency",
    "prompts",
    "early_stop",
    "tools",
    "max_tool_calls",
    "tool_format",
    "tool_timeout",
    "selector",
    "verifier",
    "stop_on_pass",
    "pass_quorum",
)
#: Options whose value is a name, not a number.
NAMED_OPTIONS = ("prompts", "tools", "tool_format", "selector", "verifier")
#: Options whose value is true or false (`stop_on_pass=1`, `stop_on_pass=true`).
BOOL_OPTIONS = ("stop_on_pass",)
_TRUTH = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
#: Options whose value is a list of names, joined by this separator (`tools=python+word_count`): not
#: `:` (options), `,` (methods) or `-` (schedules); tool names are identifiers, so it is never in one.
LIST_SEPARATOR = "+"
LIST_OPTIONS = ("tools",)
#: Methods that refine over several rounds: each can be paired with a single pass of equal B_seq.
ITERATIVE = ("pdr", "sr", "sr_error")


class MethodError(ValueError):
    """A `--methods` entry that cannot be read."""


@dataclass(frozen=True)
class EvalMethod:
    """One method of an evaluation: its label (as written, normalized) and its run configuration."""

    label: str
    config: PDRConfig

    @property
    def iterative(self) -> bool:
        return self.config.method in ITERATIVE and len(self.config.schedule) > 1


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _set(fields: dict[str, Any], key: str, value: int | float | str) -> None:
    if "." in key:
        group, role = key.split(".", 1)
        current = fields.get(group)
        merged = (
            dict(current)
            if isinstance(current, dict)
            else ({"draft": current} if current is not None else {})
        )
        merged[role] = value
        fields[group] = merged
    elif key in ("max_tokens", "temperature") and isinstance(fields.get(key), dict):
        fields[key] = {**fields[key], "draft": value}
    else:
        fields[key] = value


def _count(entry: str, text: str, what: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise MethodError(f"methods: {entry!r}: {what} must be a positive integer, got {text!r}")
    return int(text)


def _schedule(entry: str, text: str, example: str) -> tuple[int, ...]:
    """A schedule written with dashes (`4-2-1`; self-consistency's windows `4-4`)."""
    parts = text.split("-")
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise MethodError(
            f"methods: {entry!r}: schedule {text!r} is not like {example} "
            "(positive integers joined by dashes)"
        )
    return tuple(int(p) for p in parts)


def parse_method(entry: str, base: dict[str, Any] | None = None) -> EvalMethod:
    """One `--methods` entry, with `base` config fields under its own (see the module docstring).

    Example:
        ```python
        from langgraph_pdr.state.methods import parse_method

        m = parse_method("pdr:8-4-1:per_sample_top_k:k=2")
        assert m.config.schedule == (8, 4, 1) and m.config.distiller == "per_sample_top_k"
        ```
    """
    entry = entry.strip()
    parts = [p.strip() for p in entry.split(":")]
    name = parts[0]
    if name not in ALIASES:
        raise MethodError(f"methods: unknown method {name!r}; allowed: {', '.join(ALIASES)}")
    method = ALIASES[name]
    args = [p for p in parts[1:] if "=" not in p]
    options = [p for p in parts[1:] if "=" in p]
    if any("=" in p for p in parts[1 : 1 + len(args)]) or parts[1 : 1 + len(args)] != args:
        raise MethodError(f"methods: {entry!r}: arguments come before key=value options")
    fields: dict[str, Any] = {k: v for k, v in (base or {}).items() if v is not None}
    fields["method"] = method
    head = [SHORT.get(method, method)]
    if method == "single":
        if args:
            raise MethodError(f"methods: {entry!r}: 'single' takes no arguments (options: key=value)")
    elif method in SAMPLING_METHODS:  # N samples, or windows of them (sc:4-4, bon:4-4)
        if len(args) > 1:
            raise MethodError(f"methods: {entry!r}: expected {head[0]}:N, or windows such as {head[0]}:4-4")
        windows = args[0] if args else "8"
        fields["schedule"] = _schedule(entry, windows, "8 or 4-4")
        head.append(windows)
    elif method in ("sr", "sr_error"):
        if len(args) > 1:
            raise MethodError(f"methods: {entry!r}: expected {method}:ROUNDS")
        rounds = _count(entry, args[0], "ROUNDS") if args else 3
        fields["schedule"] = (1,) * rounds
        head.append(str(rounds))
    else:
        if len(args) > 2:
            raise MethodError(
                f"methods: {entry!r}: expected pdr:SCHEDULE:DISTILLER, e.g. pdr:4-2-1:global_summary"
            )
        schedule = args[0] if args else "4-2-1"
        fields["schedule"] = _schedule(entry, schedule, "4-2-1")
        fields["distiller"] = args[1] if len(args) > 1 else fields.get("distiller", "global_summary")
        head += [schedule, fields["distiller"]]
    for option in options:
        key, _, value = option.partition("=")
        key = key.strip()
        if key not in OPTIONS:
            raise MethodError(f"methods: {entry!r}: unknown option {key!r}; allowed: {', '.join(OPTIONS)}")
        value = value.strip()
        if key in LIST_OPTIONS:
            names = list(dict.fromkeys(n.strip() for n in value.split(LIST_SEPARATOR) if n.strip()))
            if not names:
                raise MethodError(f"methods: {entry!r}: {key} needs a name, e.g. {key}=python")
            fields[key], value = names, LIST_SEPARATOR.join(names)
        elif key in BOOL_OPTIONS:
            if value.lower() not in _TRUTH:
                raise MethodError(f"methods: {entry!r}: {key} needs true or false, got {value!r}")
            fields[key] = _TRUTH[value.lower()]
            value = str(fields[key]).lower()
        else:
            try:
                _set(fields, key, value if key in NAMED_OPTIONS else _number(value))
            except ValueError:
                raise MethodError(f"methods: {entry!r}: {key} needs a number, got {value!r}") from None
        head.append(f"{key}={value}")
    try:
        config = PDRConfig.model_validate(fields)
    except ValidationError as exc:
        raise MethodError(f"methods: {entry!r}: {validation_message(exc)}") from None
    return EvalMethod(":".join(head), config)


def parse_methods(text: str, base: dict[str, Any] | None = None) -> list[EvalMethod]:
    """A comma-separated `--methods` list; labels must be distinct.

    Raises:
        MethodError: an unknown method, distiller or option, or a bad schedule, with the entry named.
    """
    entries = [e for e in (text or "").split(",") if e.strip()]
    if any(e.strip().isdigit() for e in entries):
        raise MethodError(f"methods: {text!r}: write a schedule inside --methods with dashes, e.g. pdr:4-2-1")
    if not entries:
        raise MethodError("methods: give at least one method, e.g. single,sr:3,pdr:4-2-1:global_summary")
    methods: list[EvalMethod] = []
    for entry in entries:
        method = parse_method(entry, base)
        if any(m.label == method.label for m in methods):
            raise MethodError(f"methods: {method.label!r} is listed twice")
        methods.append(method)
    return methods


def matched_single(method: EvalMethod, max_tokens: int, base: dict[str, Any] | None = None) -> EvalMethod:
    """A single pass whose drafts may use `max_tokens`: the B_seq-matched partner of `method`."""
    return parse_method(f"single:max_tokens={max_tokens}", {**(base or {}), "max_tokens": None})


def method_label(config: PDRConfig) -> str:
    """The method string of `config`: the method, its schedule and distiller, then every option that
    differs from its default (`parse_method(method_label(c)).config == c`).

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.state.methods import method_label, parse_method

        config = PDRConfig(schedule="4,4", distiller="majority_k", early_stop=1.0, max_tokens=512)
        assert method_label(config) == "pdr:4-4:majority_k:max_tokens=512:early_stop=1.0"
        assert parse_method(method_label(config)).config == config
        tools = PDRConfig(method="single", tools=["python"], tool_format="fenced")
        assert method_label(tools) == "single:tools=python:tool_format=fenced"
        ```
    """
    method = config.method
    head = [SHORT.get(method, method)]
    if method in ("self_consistency", "best_of_n"):
        head.append("-".join(map(str, config.schedule)))
    elif method in ("sr", "sr_error"):
        head.append(str(config.rounds))
    elif method == "pdr":
        head += ["-".join(map(str, config.schedule)), config.distiller]
    # every other field at its default (unvalidated: bon:4-4 alone needs stop_on_pass)
    default = PDRConfig.model_construct(method=method, schedule=config.schedule, distiller=config.distiller)
    options = []
    for key in OPTIONS:
        if key in ("max_tokens", "temperature"):
            continue  # written per role below
        group, _, role = key.partition(".")
        value = getattr(getattr(config, group), role) if role else getattr(config, group)
        standard = getattr(getattr(default, group), role) if role else getattr(default, group)
        if value != standard:
            name = (
                "max_tokens"
                if key == "max_tokens.draft"
                else ("temperature" if key == "temperature.draft" else key)
            )
            shown = LIST_SEPARATOR.join(value) if key in LIST_OPTIONS else value
            options.append(f"{name}={str(shown).lower() if key in BOOL_OPTIONS else shown}")
    return ":".join(head + options)


def from_model_name(name: str) -> str:
    """A method string from a model name as `pdr serve` takes it: `pdr-4-2-1-global_summary` is
    `pdr:4-2-1:global_summary`, `sr-3` is `sr:3`, a bare distiller after `pdr` keeps PDR's default
    schedule.

    Raises:
        MethodError: a name that is not METHOD[-SCHEDULE][-DISTILLER].
    """
    head, *rest = name.split("-")
    numbers = [p for p in rest if p.isdigit()]
    words = [p for p in rest if not p.isdigit()]
    if len(words) > 1 or (rest and rest[: len(numbers)] != numbers):
        raise MethodError(f"model: {name!r} is not METHOD[-SCHEDULE][-DISTILLER], e.g. pdr-4-2-1-random_k")
    if head == "pdr" and not numbers and words:
        return f"pdr:{'-'.join(map(str, DEFAULT_SCHEDULES['pdr']))}:{words[0]}"
    return ":".join([head, *(["-".join(numbers)] if numbers else []), *words])
