"""Conversation flows as data: loading config/flows/*.yaml and checking them.

A flow is a set of named steps. A step is one of:

- ``menu``: numbered options, fixed (``options``) or computed (``options_from``), optionally an
  extra "Other" option (``other: <step>``) that leads to a free-text step. The chosen option's
  ``value`` is saved under ``save`` (not for an option marked ``save: false``, e.g. "I don't
  know"); the option's ``next`` (or the step's) says where to go. A menu with ``options_from``
  may list fixed ``options`` too: they come after the computed ones and "Other", so those keep
  their numbers; when the source gives nothing, the menu goes straight to its ``other`` step.
  ``per_page: <n>`` shows the options on USSD in fixed pages of n (1-n, then n+1-2n, ...), the
  question above every page (``<prompt>.more`` when the page needs it shorter), whatever the
  language and whether or not a hint is shown: a person who learnt where an option is finds it
  there again. Chat lists every option, as always.
- ``input``: free text checked by a named validator (``validate``) and saved under ``save``.
- ``action``: runs a named action and goes on without showing anything.
- ``end``: runs an optional action and shows the closing text; the conversation ends.

``next`` names a step of the same flow, or ``@flow`` for another flow's first step. A step may
be skipped: ``skip_if: answered`` (its ``save`` is already known) or ``skip_if: <guard>``.
A step with ``location: <step>`` also takes a shared location (WhatsApp), which fills in country,
city and coordinates at once and goes to that step.
After too many refused answers in one conversation the engine stops asking: it goes to the
flow's ``give_up`` step when it has one (SOS: open the case with what is known), otherwise it
ends with a polite "dial again".
Prompts live in config/locales/<lang>.yaml under ``<flow>.<step>``, option labels under
``<flow>.<step>.<value>``; flows hold no text and know nothing of channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import CONFIG_DIR, read_yaml

STEP_KINDS = ("menu", "input", "action", "end")
MAX_PER_PAGE = 9  # more options than this never fit one 182-character USSD page
FLOWS_DIR = CONFIG_DIR / "flows"


class FlowError(ValueError):
    """A flow file is malformed; the message names the flow and step."""


@dataclass(frozen=True)
class Option:
    value: str
    next: str | None = None
    label: str | None = None  # a text key; defaults to <flow>.<step>.<value>
    save: bool = True  # False: choosing it saves nothing (e.g. "I don't know")


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    next: str | None = None
    save: str | None = None
    options: tuple[Option, ...] = ()
    options_from: str | None = None
    other: str | None = None
    validate: str | None = None
    action: str | None = None
    skip_if: str | None = None
    location: str | None = None  # where a shared location leads (it answers country and city)
    text: str | None = None  # a text key; defaults to <flow>.<step>
    per_page: int | None = None  # USSD: options in fixed pages of this many


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    steps: dict[str, Step]
    on_start: str | None = None  # an action run when the flow is entered
    on_answer: str | None = None  # an action run after every answer (e.g. save a draft)
    give_up: str | None = None  # where to go after too many refused answers (None: end politely)


def load_flows(directory: Path = FLOWS_DIR) -> dict[str, Flow]:
    """Read every flow file in `directory` (one or more flows per file)."""
    flows: dict[str, Flow] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        data = read_yaml(path) or {}
        for name, raw in data.items():
            if name in flows:
                raise FlowError(f"{path.name}: flow {name!r} is defined twice")
            flows[name] = _flow(name, raw)
    if "main" not in flows:
        raise FlowError("there must be a flow named 'main'")
    return flows


def _flow(name: str, raw: dict) -> Flow:
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict) or not raw["steps"]:
        raise FlowError(f"{name}: a flow needs a mapping of steps")
    steps = {step_name: _step(name, step_name, body or {}) for step_name, body in raw["steps"].items()}
    start = raw.get("start") or next(iter(steps))
    unknown = set(raw) - {"steps", "start", "on_start", "on_answer", "give_up"}
    if unknown:
        raise FlowError(f"{name}: unknown keys {sorted(unknown)}")
    return Flow(name, start, steps, raw.get("on_start"), raw.get("on_answer"), raw.get("give_up"))


def _step(flow: str, name: str, raw: dict) -> Step:
    kind = raw.get("type")
    if kind not in STEP_KINDS:
        raise FlowError(f"{flow}.{name}: type must be one of {', '.join(STEP_KINDS)}")
    options = []
    for i, opt in enumerate(raw.get("options") or []):
        if not isinstance(opt, dict) or "value" not in opt:
            raise FlowError(f"{flow}.{name}.options[{i}]: an option needs a value")
        unknown = set(opt) - {"value", "next", "label", "save"}
        if unknown:
            raise FlowError(f"{flow}.{name}.options[{i}]: unknown keys {sorted(unknown)}")
        options.append(Option(str(opt["value"]), opt.get("next"), opt.get("label"), opt.get("save", True)))
    known = {"type", "next", "save", "options", "options_from", "other", "validate", "action", "skip_if",
             "location", "text", "per_page"}
    unknown = set(raw) - known
    if unknown:
        raise FlowError(f"{flow}.{name}: unknown keys {sorted(unknown)}")
    return Step(name=name, kind=kind, next=raw.get("next"), save=raw.get("save"), options=tuple(options),
                options_from=raw.get("options_from"), other=raw.get("other"), validate=raw.get("validate"),
                action=raw.get("action"), skip_if=raw.get("skip_if"), location=raw.get("location"),
                text=raw.get("text"), per_page=raw.get("per_page"))


def check_flows(flows: dict[str, Flow], *, actions, validators, sources, guards) -> list[str]:
    """Every problem in the flows: dangling `next`, unknown names, steps that cannot go on.

    Args:
        actions, validators, sources, guards: the registries the names must come from.

    Returns:
        A list of problems, empty when the flows are sound.
    """
    problems = []

    def target_ok(flow: Flow, target: str | None) -> bool:
        if target is None:
            return False
        if target.startswith("@"):
            return target[1:] in flows
        return target in flow.steps

    for flow in flows.values():
        where = flow.name
        if flow.start not in flow.steps:
            problems.append(f"{where}: start step {flow.start!r} does not exist")
        for hook in (flow.on_start, flow.on_answer):
            if hook and hook not in actions:
                problems.append(f"{where}: unknown action {hook!r}")
        if flow.give_up and flow.give_up not in flow.steps:
            problems.append(f"{where}: give_up step {flow.give_up!r} does not exist")
        for step in flow.steps.values():
            at = f"{where}.{step.name}"
            if step.kind == "menu":
                if not step.options and not step.options_from:
                    problems.append(f"{at}: a menu needs options or options_from")
                if step.options_from and step.options_from not in sources:
                    problems.append(f"{at}: unknown option source {step.options_from!r}")
                for opt in step.options:
                    if not target_ok(flow, opt.next or step.next):
                        problems.append(f"{at}.{opt.value}: next {opt.next or step.next!r} does not exist")
                if step.options_from and not target_ok(flow, step.next):
                    problems.append(f"{at}: next {step.next!r} does not exist")
                if step.other and not target_ok(flow, step.other):
                    problems.append(f"{at}: other {step.other!r} does not exist")
                if len(step.options) > 40:
                    problems.append(f"{at}: too many options")
                for opt in step.options:
                    if not isinstance(opt.save, bool):
                        problems.append(f"{at}.{opt.value}: save must be true or false")
                    elif not opt.save and not step.save:
                        problems.append(f"{at}.{opt.value}: save: false on a menu that saves nothing")
            if step.per_page is not None:
                if step.kind != "menu":
                    problems.append(f"{at}: per_page is for menus")
                elif isinstance(step.per_page, bool) or not isinstance(step.per_page, int) \
                        or not 1 <= step.per_page <= MAX_PER_PAGE:
                    problems.append(f"{at}: per_page must be a whole number from 1 to {MAX_PER_PAGE}")
            if step.kind == "input":
                if step.validate not in validators:
                    problems.append(f"{at}: unknown validator {step.validate!r}")
                if not step.save:
                    problems.append(f"{at}: an input step must save its answer")
            if step.kind in ("input", "action") and not target_ok(flow, step.next):
                problems.append(f"{at}: next {step.next!r} does not exist")
            if step.kind in ("action", "end") and step.action and step.action not in actions:
                problems.append(f"{at}: unknown action {step.action!r}")
            if step.kind == "action" and not step.action:
                problems.append(f"{at}: an action step needs an action")
            if step.skip_if and step.skip_if != "answered" and step.skip_if not in guards:
                problems.append(f"{at}: unknown guard {step.skip_if!r}")
            if step.skip_if and not target_ok(flow, step.next):
                problems.append(f"{at}: a step that may be skipped needs a next")
            if step.location and not target_ok(flow, step.location):
                problems.append(f"{at}: location {step.location!r} does not exist")
    return problems
