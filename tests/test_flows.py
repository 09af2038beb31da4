"""The flows and texts as shipped are sound, broken flows are reported, and every USSD screen
fits 182 characters in English and Kiswahili (long menus paged by gateway.conversation.screens)."""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml

from config.settings import CONFIG_DIR
from gateway.conversation.engine import Context, Conversation, Screen
from gateway.conversation.flows import FlowError, check_flows, load_flows
from gateway.conversation.registry import REGISTRY
from gateway.conversation.screens import LIMIT, pages
from gateway.conversation.texts import LANGUAGES, Texts
from gateway.reference import directory as directory_module

TEXTS = Texts.load()
FLOWS = load_flows()
COUNTRIES = directory_module.load(CONFIG_DIR / "directory.yaml").countries()
HINTS = sorted(key for key in TEXTS.by_language["en"] if key.startswith("hint."))
SCREEN_STEPS = [f"{flow.name}.{step.name}" for flow in FLOWS.values() for step in flow.steps.values()
                if step.kind in ("menu", "input")]


def registry_names() -> dict:
    return {"actions": REGISTRY.actions, "validators": REGISTRY.validators,
            "sources": REGISTRY.sources, "guards": REGISTRY.guards}


# --- the shipped flows and texts ------------------------------------------------------------------

def test_the_shipped_flows_are_sound():
    assert check_flows(FLOWS, **registry_names()) == []


def test_every_text_is_in_both_languages_with_the_same_placeholders():
    assert TEXTS.problems() == []


def test_a_yes_or_no_left_unquoted_is_a_problem_not_a_true_on_the_screen(tmp_path):
    """YAML reads an unquoted Yes as true: the safety menu once offered "1. True"."""
    (tmp_path / "en.yaml").write_text("contact:\n  ok: Yes\n  never: No\n  fine: \"Yes\"\n", encoding="utf-8")
    (tmp_path / "sw.yaml").write_text("contact:\n  ok: Ndiyo\n  never: Hapana\n  fine: Ndiyo\n", encoding="utf-8")
    assert Texts.load(tmp_path).problems() == [
        "en: contact.ok: reads as true/false or nothing, not words; put the text in quotes",
        "en: contact.never: reads as true/false or nothing, not words; put the text in quotes"]


def test_every_prompt_and_option_label_has_a_text():
    missing = []
    for flow in FLOWS.values():
        for step in flow.steps.values():
            if step.kind in ("menu", "input"):
                keys = [step.text or f"{flow.name}.{step.name}"]
                keys += [opt.label or f"{flow.name}.{step.name}.{opt.value}" for opt in step.options]
                missing += [key for key in keys if not TEXTS.has(key)]
    assert missing == []


# --- broken flows are reported --------------------------------------------------------------------

MAIN = """
main:
  steps:
    menu:
      type: menu
      options:
        - {value: report, next: "@report"}
"""


def write_flows(directory, body: str):
    """A flows folder holding a sound `main` and the given `report` flow."""
    (directory / "main.yaml").write_text(MAIN)
    (directory / "report.yaml").write_text(textwrap.dedent(body))
    return directory


def problems(directory, body: str) -> list[str]:
    return check_flows(load_flows(write_flows(directory, body)), **registry_names())


SOUND_REPORT = """
report:
  steps:
    ask:
      type: input
      validate: name
      save: name
      next: done
    done:
      type: end
"""


def test_a_small_sound_flow_has_no_problems(tmp_path):
    assert problems(tmp_path, SOUND_REPORT) == []


def test_no_main_flow_is_an_error(tmp_path):
    (tmp_path / "report.yaml").write_text(textwrap.dedent(SOUND_REPORT))
    with pytest.raises(FlowError, match="main"):
        load_flows(tmp_path)


@pytest.mark.parametrize("step, where", [
    ({"type": "question", "next": "done"}, "report.ask: type"),
    ({"type": "input", "validate": "name", "save": "name", "next": "done", "colour": "red"},
     "report.ask: unknown keys ['colour']"),
    ({"type": "menu", "save": "x", "next": "done", "options": [{"value": "a", "colour": "red"}]},
     "report.ask.options[0]: unknown keys ['colour']"),
], ids=["unknown step type", "unknown key", "unknown option key"])
def test_malformed_steps_are_errors(tmp_path, step, where):
    body = {"report": {"steps": {"ask": step, "done": {"type": "end"}}}}
    (tmp_path / "main.yaml").write_text(MAIN)
    (tmp_path / "report.yaml").write_text(yaml.safe_dump(body))
    with pytest.raises(FlowError) as caught:
        load_flows(tmp_path)
    assert str(caught.value).startswith(where), str(caught.value)


BROKEN = [
    ("next names a missing step", """
        report:
          steps:
            ask: {type: input, validate: name, save: name, next: nowhere}
        """, "report.ask: next 'nowhere' does not exist"),
    ("next names a missing flow", """
        report:
          steps:
            pick:
              type: menu
              options:
                - {value: go, next: "@missing"}
        """, "report.pick.go: next '@missing' does not exist"),
    ("unknown validator", """
        report:
          steps:
            ask: {type: input, validate: shoe_size, save: size, next: done}
            done: {type: end}
        """, "report.ask: unknown validator 'shoe_size'"),
    ("unknown action", """
        report:
          steps:
            act: {type: action, action: launch_rockets, next: done}
            done: {type: end}
        """, "report.act: unknown action 'launch_rockets'"),
    ("unknown action on an end step", """
        report:
          steps:
            done: {type: end, action: launch_rockets}
        """, "report.done: unknown action 'launch_rockets'"),
    ("unknown option source", """
        report:
          steps:
            pick: {type: menu, options_from: planets, save: planet, next: done}
            done: {type: end}
        """, "report.pick: unknown option source 'planets'"),
    ("unknown guard", """
        report:
          steps:
            ask: {type: input, validate: name, save: name, skip_if: is_tuesday, next: done}
            done: {type: end}
        """, "report.ask: unknown guard 'is_tuesday'"),
    ("input without save", """
        report:
          steps:
            ask: {type: input, validate: name, next: done}
            done: {type: end}
        """, "report.ask: an input step must save its answer"),
    ("per_page on an input", """
        report:
          steps:
            ask: {type: input, validate: name, save: name, per_page: 5, next: done}
            done: {type: end}
        """, "report.ask: per_page is for menus"),
    ("per_page not a small number", """
        report:
          steps:
            pick:
              type: menu
              save: choice
              per_page: 0
              next: done
              options:
                - {value: one}
            done: {type: end}
        """, "report.pick: per_page must be a whole number from 1 to 9"),
    ("an option that saves nothing on a menu that saves nothing", """
        report:
          steps:
            pick:
              type: menu
              next: done
              options:
                - {value: unknown, save: false}
            done: {type: end}
        """, "report.pick.unknown: save: false on a menu that saves nothing"),
    ("menu without options", """
        report:
          steps:
            pick: {type: menu, save: choice, next: done}
            done: {type: end}
        """, "report.pick: a menu needs options or options_from"),
]


@pytest.mark.parametrize("body, expected", [(b, e) for _, b, e in BROKEN], ids=[n for n, _, _ in BROKEN])
def test_broken_flows_are_reported(tmp_path, body, expected):
    assert problems(tmp_path, body) == [expected]


# --- every USSD screen fits 182 characters ---------------------------------------------------------

def option_lines(page: str) -> list[str]:
    """The numbered lines of a page that are not the paging lines 98 and 0."""
    lines = page.removeprefix("CON ").split("\n")
    return [line for line in lines if not line.startswith(("98. ", "0. "))]


def paging_problems(screen: Screen, lang: str) -> list[str]:
    """Why the screen's USSD pages are wrong, or [] when every page fits and every option is on
    exactly one page."""
    found = []
    shown = pages(screen, TEXTS.get(lang, "common.more"), TEXTS.get(lang, "common.back"))
    for i, page in enumerate(shown):
        if not page.startswith("CON "):
            found.append(f"page {i + 1} is not CON: {page!r}")
        if len(page) > LIMIT:
            found.append(f"page {i + 1} is {len(page)} characters: {page!r}")
    lines = [line for page in shown for line in option_lines(page)]
    for number, label in screen.options:
        count = lines.count(f"{number}. {label}")
        if count != 1:
            found.append(f"option {number}. {label!r} is on {count} pages")
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("where", SCREEN_STEPS)
def test_every_screen_fits_in_every_language(services, where, lang):
    flow, step = where.split(".")
    failures = {}  # problem -> the first country and hint that showed it
    for country in [None, *COUNTRIES]:
        answers = {"country": country} if country else {}
        for hint in [None, *HINTS]:
            convo = Conversation(flow=flow, step=step, lang=lang, answers=answers)
            ctx = Context(channel="ussd", phone="+254712345678", services=services)
            screen = services.engine.screen(convo, ctx, hint=hint)
            for problem in paging_problems(screen, lang):
                failures.setdefault(problem, f"country={country} hint={hint}")
    assert not failures, "\n".join(f"{seen}: {problem}" for problem, seen in failures.items())


def end_texts(directory) -> list[tuple[str, dict]]:
    """Every END text with its longest values."""
    mission = max((m.name for m in directory.missions), key=len)
    return [
        ("sos.done", {"reference": "KE-7F3K2Z", "mission": mission}),
        ("sos.done_centre", {"reference": "KE-7F3K2Z"}),
        ("sos.done_discreet", {"reference": "KE-7F3K2Z"}),
        ("sos.done_preset", {"reference": "KE-7F3K2Z"}),
        ("register.done", {"name": "N" * 20}),
        ("register.declined", {}),
        ("check_case.list", {"cases": None}),  # filled in per language below
        ("check_case.none", {}),
        ("common.too_long", {}),
        ("common.error", {}),
    ]


def longest_case_list(lang: str) -> str:
    statuses = [text for key, text in TEXTS.by_language[lang].items() if key.startswith("case_status.")]
    return "\n".join(["KE-7F3K2Z: " + max(statuses, key=len)] * 3)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_end_text_fits_without_being_cut(services, lang):
    too_long = []
    for key, values in end_texts(services.directory):
        if key == "check_case.list":
            values = {"cases": longest_case_list(lang)}
        text = TEXTS.get(lang, key, **values)
        if len("END " + text) > LIMIT or pages(Screen(text, end=True), "", "") != ["END " + text]:
            too_long.append(f"{key}: {len('END ' + text)} characters: {text!r}")
    assert not too_long, "\n".join(too_long)


# --- paging ---------------------------------------------------------------------------------------

def numbered(count: int, label: str = "Option") -> list[tuple[str, str]]:
    return [(str(i), f"{label} {i}") for i in range(1, count + 1)]


def test_a_short_screen_is_one_page_without_paging_lines():
    screen = Screen("Choose one", [("1", "Yes"), ("2", "No")])
    assert pages(screen, "More", "Back") == ["CON Choose one\n1. Yes\n2. No"]


def test_a_screen_of_exactly_182_characters_is_one_page():
    prompt = "P" * (LIMIT - len("CON \n1. Yes\n2. No"))
    screen = Screen(prompt, [("1", "Yes"), ("2", "No")])

    assert pages(screen, "More", "Back") == [f"CON {prompt}\n1. Yes\n2. No"]
    assert len(pages(Screen(prompt + "P", screen.options), "More", "Back")) == 2


def test_a_long_menu_is_paged_with_its_global_numbers():
    screen = Screen("Choose one", numbered(30))
    shown = pages(screen, "More", "Back")

    assert len(shown) >= 3
    assert all(page.startswith("CON ") and len(page) <= LIMIT for page in shown)

    first, *middle, last = [page.split("\n") for page in shown]
    assert first[0] == "CON Choose one"
    assert first[-1] == "98. More" and "0. Back" not in first
    for page in middle:
        assert page[-2:] == ["0. Back", "98. More"]
        assert not page[0].startswith("CON Choose")
    assert last[-1] == "0. Back" and not any(line.startswith("98.") for line in last)

    lines = [line for page in shown for line in option_lines(page)]
    assert lines == ["Choose one"] + [f"{i}. Option {i}" for i in range(1, 31)]


def test_pages_after_the_first_start_with_an_option():
    shown = pages(Screen("Choose one", numbered(30)), "More", "Back")
    for page in shown[1:]:
        assert page.split("\n")[0][len("CON "):].split(".")[0].isdigit(), page


def test_a_long_end_text_is_cut_to_fit():
    [page] = pages(Screen("word " * 60, end=True), "", "")
    assert page.startswith("END word") and page.endswith("...") and len(page) <= LIMIT


# --- fixed pages (per_page) and hints that never move an option ----------------------------------

def test_fixed_pages_hold_the_same_options_whatever_the_labels():
    short = Screen("Choose", [(str(i), f"O{i}") for i in range(1, 8)], per_page=3)
    long = Screen("Choose", [(str(i), f"Option number {i}") for i in range(1, 8)], per_page=3)
    for screen in (short, long):
        shown = [page.removeprefix("CON ").split("\n") for page in pages(screen, "More", "Back")]
        assert [[line.split(".")[0] for line in page[1:]] for page in shown] == [
            ["1", "2", "3", "98"], ["4", "5", "6", "0", "98"], ["7", "0"]]
        assert all(page[0] == "Choose" for page in shown)  # the question above every page


def test_a_fixed_page_takes_the_shorter_question_only_where_it_must():
    labels = [(str(i), "L" * 30) for i in range(1, 5)]
    question = "Q" * 40
    screen = Screen(question, labels, per_page=2, more_text="Q?")
    assert all(page.startswith(f"CON {question}\n") for page in pages(screen, "More", "Back"))
    crowded = Screen(question, [(str(i), "L" * 60) for i in range(1, 7)], per_page=2, more_text="Q?")
    shown = pages(crowded, "More", "Back")  # the middle page has "0. Back" and "98. More" too
    assert all(len(page) <= LIMIT for page in shown) and len(shown) == 3
    assert [page.split("\n")[0] for page in shown] == [f"CON {question}", "CON Q?", f"CON {question}"]


def test_fixed_pages_that_cannot_fit_are_paged_as_any_other_menu():
    screen = Screen("Choose", [(str(i), "L" * 60) for i in range(1, 7)], per_page=3)
    shown = pages(screen, "More", "Back")
    assert all(len(page) <= LIMIT for page in shown)
    assert [line for page in shown for line in option_lines(page)][1:] == [f"{i}. {'L' * 60}" for i in range(1, 7)]


@pytest.mark.parametrize("per_page", [None, 4])
def test_a_hint_never_moves_an_option_to_another_page(per_page):
    options = [(str(i), f"Option {i}") for i in range(1, 13)]
    plain = pages(Screen("Choose one", options, per_page=per_page), "More", "Back")
    for hint, short in [("Reply with a number.", None), ("H" * 170, "Choose a number."), ("H" * 170, "S" * 170)]:
        hinted = pages(Screen("Choose one", options, hint=hint, short_hint=short, per_page=per_page), "More", "Back")
        assert [option_lines(page)[-4:] for page in hinted] == [option_lines(page)[-4:] for page in plain]
        assert all(len(page) <= LIMIT for page in hinted)
        first = hinted[0].removeprefix("CON ").split("\n")[0]
        assert first == next((h for h in (hint, short) if h and len(f"{h}\n") + len(plain[0]) <= LIMIT), "Choose one")


PAGED_STEPS = [(flow.name, step.name) for flow in FLOWS.values() for step in flow.steps.values() if step.per_page]


@pytest.mark.parametrize("flow, step", PAGED_STEPS, ids=[f"{f}.{s}" for f, s in PAGED_STEPS])
def test_fixed_pages_are_the_same_in_every_language_and_with_every_hint(services, flow, step):
    """Each page of a per_page menu holds the same numbers in every language, with or without a
    hint, under the question."""
    per_page, count = FLOWS[flow].steps[step].per_page, len(FLOWS[flow].steps[step].options)
    expected = [[str(n) for n in range(start + 1, min(start + per_page, count) + 1)]
                for start in range(0, count, per_page)]
    for lang in LANGUAGES:
        for hint in [None, *HINTS]:
            convo = Conversation(flow=flow, step=step, lang=lang)
            ctx = Context(channel="ussd", phone="+254712345678", services=services)
            shown = pages(services.engine.screen(convo, ctx, hint=hint), TEXTS.get(lang, "common.more"),
                          TEXTS.get(lang, "common.back"))
            numbers = [[line.split(".")[0] for line in option_lines(page) if re.match(r"\d+\. ", line)]
                       for page in shown]
            assert numbers == expected, (lang, hint, numbers)
            question = TEXTS.get(lang, f"{flow}.{step}")
            assert all(question in page.removeprefix("CON ").split("\n")[:2] for page in shown), (lang, hint, shown)
