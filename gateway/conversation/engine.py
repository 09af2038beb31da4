"""The conversation engine: one for every channel.

It walks the flows of gateway/conversation/flows.py. A channel adapter gives it the person's input and gets
back a `Screen` (a prompt, numbered options, and whether the conversation ends); the adapter
alone turns that into a USSD page, an SMS or a WhatsApp reply. The engine keeps its state in a
`Conversation`, which the adapter stores between messages (Redis for USSD and chat).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.conversation.flows import Flow, FlowError, Step
from gateway.conversation.texts import Texts
from gateway.reference.directory import fold

MAX_HOPS = 50  # steps walked without showing anything; more means a loop in the flows
OTHER = "__other__"
# Bounds on what one message may cost: no answer longer than a person types on a phone, and a
# conversation stops asking after this many refused answers (a USSD request replays them all;
# bench/ussd_worst.py measures the worst case).
MAX_ANSWER = 300
MAX_INVALID = 6


class Invalid(Exception):
    """An answer that a validator refused; `hint` is the text key of a short explanation."""

    def __init__(self, hint: str):
        super().__init__(hint)
        self.hint = hint


@dataclass
class Screen:
    text: str
    options: list[tuple[str, str]] = field(default_factory=list)  # (number, label)
    end: bool = False
    hint: str | None = None  # why the last answer was refused; shown before the text if it fits
    short_hint: str | None = None  # the hint in fewer words, for a page the hint would not fit
    per_page: int | None = None  # USSD: options in fixed pages of this many (flows.py)
    more_text: str | None = None  # the question, shorter, for pages after the first


@dataclass
class Conversation:
    """Where a person is in the flows, and what they answered. JSON-friendly."""

    flow: str = "main"
    step: str = ""
    lang: str = "en"
    answers: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    refused: int = 0  # answers refused so far in this conversation

    def to_dict(self) -> dict:
        return {"flow": self.flow, "step": self.step, "lang": self.lang, "answers": self.answers,
                "ended": self.ended, "refused": self.refused}

    @classmethod
    def from_dict(cls, data: dict) -> Conversation:
        return cls(**{k: data[k] for k in ("flow", "step", "lang", "answers", "ended", "refused") if k in data})


@dataclass
class Context:
    """What actions and validators may know about the message being handled."""

    channel: str  # ussd, sms, whatsapp
    phone: str  # E.164
    services: Any = None  # gateway.services.Services
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. a WhatsApp location
    cache: dict[str, Any] = field(default_factory=dict)  # per-message lookups (the person, ...)
    texts: Texts | None = None


@dataclass
class Registry:
    """The names flows may use. Actions return a dict of text values; two keys steer:
    "goto" (a step or @flow to go to instead of next) and "text" (the text key to show)."""

    actions: dict[str, Callable[[Context, Conversation], dict | None]] = field(default_factory=dict)
    validators: dict[str, Callable[[str, Context, Conversation], Any]] = field(default_factory=dict)
    sources: dict[str, Callable[[Context, Conversation], list[tuple[str, str]]]] = field(default_factory=dict)
    guards: dict[str, Callable[[Context, Conversation], bool]] = field(default_factory=dict)


class Engine:
    def __init__(self, flows: dict[str, Flow], texts: Texts, registry: Registry):
        self.flows, self.texts, self.registry = flows, texts, registry

    def start(self, ctx: Context, lang: str = "en", flow: str = "main") -> tuple[Conversation, Screen]:
        """Begin a conversation at the first step of `flow`."""
        convo = Conversation(flow=flow, lang=lang)
        return convo, self._go(convo, "@" + flow, ctx)

    def reply(self, convo: Conversation, text: str, ctx: Context, replaying: bool = False) -> tuple[Conversation, Screen]:
        """Take one answer to the current step and move on.

        `replaying` is for answers already taken by an earlier request of the session (USSD
        replays its whole text): the flow's on_answer hook (e.g. saving a draft) is skipped.
        """
        if convo.ended:
            return self.start(ctx, convo.lang)
        ctx.texts = self.texts
        ctx.extras["replaying"] = replaying  # validators count wrong codes once, not at every replay
        flow = self.flows[convo.flow]
        step = flow.steps[convo.step]
        answer = " ".join((text or "")[:MAX_ANSWER * 2].split())
        if len(answer) > MAX_ANSWER:
            return self._refuse(convo, ctx, "hint.too_long")
        if step.kind == "menu":
            options = self.options(step, ctx, convo)
            chosen = _pick(answer, options)
            if chosen is None:
                return self._refuse(convo, ctx, "hint.menu")
            value, next_target = chosen
            if value == OTHER:
                target = step.other
            else:
                if step.save and value is not None:  # None: an option that saves nothing
                    convo.answers[step.save] = value
                target = next_target or step.next
        elif step.kind == "input":
            try:
                value = self.registry.validators[step.validate](answer, ctx, convo)
            except Invalid as exc:
                return self._refuse(convo, ctx, exc.hint)
            convo.answers[step.save] = value
            target = step.next
        else:  # action and end steps never wait for input
            return self.start(ctx, convo.lang)
        screen = self._go(convo, target, ctx)
        if flow.on_answer and not replaying and convo.flow == flow.name and not convo.ended:
            self.registry.actions[flow.on_answer](ctx, convo)
        return convo, screen

    def _refuse(self, convo: Conversation, ctx: Context, hint: str) -> tuple[Conversation, Screen]:
        """The step again with why the answer was refused; after MAX_INVALID refusals, give up:
        the flow's give_up step (an SOS still opens its case), or a polite end."""
        convo.refused += 1
        if convo.refused < MAX_INVALID:
            return convo, self.screen(convo, ctx, hint=hint)
        give_up = self.flows[convo.flow].give_up
        if give_up:
            return convo, self._go(convo, give_up, ctx)
        convo.ended = True
        return convo, Screen(self.texts.get(convo.lang, self.text_key("common.too_many_tries", ctx.channel)), end=True)

    def reply_location(self, convo: Conversation, place: dict, ctx: Context) -> tuple[Conversation, Screen] | None:
        """A shared location as the answer to the current step, if the step takes one.

        `place` holds what the location says (country, city, latitude, longitude); None when
        the step does not take a location.
        """
        step = self.flows[convo.flow].steps.get(convo.step) if not convo.ended else None
        if step is None or not step.location:
            return None
        convo.answers.update({k: v for k, v in place.items() if v is not None})
        return convo, self._go(convo, step.location, ctx)

    def screen(self, convo: Conversation, ctx: Context, hint: str | None = None) -> Screen:
        """The current step shown again, with a hint first when the last answer was refused."""
        ctx.texts = self.texts
        step = self.flows[convo.flow].steps[convo.step]
        options = []
        if step.kind == "menu":
            options = [(str(i), label) for i, (_, label, _) in enumerate(self.options(step, ctx, convo), 1)]
        key = self._prompt_key(convo, step, ctx.channel)
        more = f"{step.text or f'{convo.flow}.{step.name}'}.more"
        return Screen(self.texts.get(convo.lang, key), options,
                      hint=self.texts.get(convo.lang, hint) if hint else None,
                      short_hint=self.texts.get(convo.lang, "common.hint_short") if hint and options else None,
                      per_page=step.per_page,
                      more_text=self.texts.get(convo.lang, more) if step.per_page and self.texts.has(more) else None)

    def options(self, step: Step, ctx: Context, convo: Conversation) -> list[tuple[str | None, str, str | None]]:
        """The menu's options as (value, label, next): the computed ones, "Other", then the fixed
        ones of a computed menu (or the fixed ones, then "Other"). The value is None for an
        option that saves nothing."""
        computed = [(v, label, None) for v, label in self.registry.sources[step.options_from](ctx, convo)] \
            if step.options_from else []
        fixed = [(o.value if o.save else None,
                  self.texts.get(convo.lang, o.label or f"{convo.flow}.{step.name}.{o.value}"), o.next)
                 for o in step.options]
        other = [(OTHER, self.texts.get(convo.lang, "common.other"), None)] if step.other else []
        return computed + other + fixed if step.options_from else fixed + other

    def _prompt_key(self, convo: Conversation, step: Step, channel: str = "") -> str:
        return self.text_key(step.text or f"{convo.flow}.{step.name}", channel)

    def text_key(self, key: str, channel: str) -> str:
        """A channel may word a text its own way: key@whatsapp, then key@chat (SMS and WhatsApp)."""
        for variant in (f"{key}@{channel}", f"{key}@chat" if channel in ("sms", "whatsapp") else None):
            if variant and self.texts.has(variant):
                return variant
        return key

    def _go(self, convo: Conversation, target: str, ctx: Context) -> Screen:
        """Walk from `target` to the next step that shows something."""
        ctx.texts = self.texts
        for _ in range(MAX_HOPS):
            if target.startswith("@"):
                flow = self.flows[target[1:]]
                convo.flow, convo.answers = flow.name, {}
                target = flow.start
                if flow.on_start:
                    result = self.registry.actions[flow.on_start](ctx, convo) or {}
                    target = result.get("goto") or target
                    if target.startswith("@"):
                        continue
            step = self.flows[convo.flow].steps[target]
            convo.step = step.name
            if step.skip_if and self._skip(step, ctx, convo):
                target = step.next
                continue
            if step.kind == "menu" and step.other and step.options_from and \
                    not self.registry.sources[step.options_from](ctx, convo):
                target = step.other  # nothing to choose from but "Other": ask for the text
                continue
            if step.kind == "action":
                result = self.registry.actions[step.action](ctx, convo) or {}
                target = result.get("goto") or step.next
                continue
            if step.kind == "end":
                result = (self.registry.actions[step.action](ctx, convo) if step.action else None) or {}
                convo.ended = True
                key = self.text_key(result.get("text") or step.text or f"{convo.flow}.{step.name}", ctx.channel)
                values = {k: v for k, v in result.items() if k not in ("goto", "text")}
                return Screen(self.texts.get(convo.lang, key, **values), end=True)
            return self.screen(convo, ctx)
        raise FlowError(f"{convo.flow}.{convo.step}: more than {MAX_HOPS} steps without a screen")

    def _skip(self, step: Step, ctx: Context, convo: Conversation) -> bool:
        if step.skip_if == "answered":
            return convo.answers.get(step.save) not in (None, "")
        return bool(self.registry.guards[step.skip_if](ctx, convo))


def _pick(answer: str, options: list[tuple[str, str, str | None]]) -> tuple[str, str | None] | None:
    """The option a person chose, by its number or, in chat, by its label."""
    number = answer.rstrip(".)")
    if number.isdigit() and 1 <= int(number) <= len(options):
        value, _, next_target = options[int(number) - 1]
        return value, next_target
    folded = fold(answer)
    for value, label, next_target in options:
        if folded and folded == fold(label):
            return value, next_target
    return None
