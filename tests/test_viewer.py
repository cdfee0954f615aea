"""Readable counterexamples: the text rendering and the self-contained HTML viewer.

Browser tests drive Debian's chromium through Playwright; they are skipped, with the reason,
where /usr/bin/chromium or playwright is missing.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest

from checker import Id, Map, Model, Record, action, invariant, param, sometimes
from checker.actors import ActorModel, Role
from checker.cli import main
from checker.explore import check
from checker.loader import build_model
from checker.trace import changes, render_text
from checker.viewer import diff_tree, render_html, trace_data, write_html

ROOT = Path(__file__).resolve().parent.parent
PAXOS = str(ROOT / "models" / "paxos.py")
NAIVE = str(ROOT / "models" / "naive_paxos.py")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# -- models ------------------------------------------------------------------------------------

class Note(Record):
    text: str
    quote: str


class Sneaky(Model):
    """States, labels and parameters full of markup, which the viewer must show as text."""

    note = param("<b>bold</b>", None, "a parameter holding markup")

    def init(self):
        return Note("</script><script>window.pwned = 1</script>", "\"'&amp; <!--")

    @action(over=[("<img src=x onerror='window.pwned=2'>",)])
    def write(self, s, text):
        return s.replace(text=text) if s.text != text else None

    @invariant
    def harmless(self, s):
        return "<img" not in s.text


class Ping(Record):
    n: int


class Pong(Record):
    n: int


class PingerState(Record):
    sent: int = 0
    pongs: int = 0


class Pinger(Role):
    def start(self, me, ctx):
        ctx.set_timer("ping")
        return PingerState()

    def on_timer(self, me, local, timer, ctx):
        ctx.send(Id("ponger", 0), Ping(local.sent))
        return local.replace(sent=local.sent + 1)

    def on_message(self, me, local, src, msg, ctx):
        return local.replace(pongs=local.pongs + 1)


class Ponger(Role):
    def start(self, me, ctx):
        return 0

    def on_message(self, me, local, src, msg, ctx):
        ctx.send(src, Pong(msg.n))
        return local + 1


class PingPong(ActorModel):
    """Its shortest counterexample uses every kind of step: timer, delivery and all faults."""

    network = "unordered"

    def roles(self):
        return {Pinger: 1, Ponger: 1}

    @invariant
    def not_everything_happens(self, world):
        pinger = world.nodes[Id("pinger", 0)]
        return not (pinger.pongs >= 1 and world.faults == (1, 1, 1, 1))

    @sometimes
    def pong_received(self, world):
        return world.nodes[Id("pinger", 0)].pongs > 0


def ping_pong():
    model = PingPong(max_crashes=1, max_restarts=1, max_drops=1, max_duplicates=1)
    return model, check(model)


# -- text --------------------------------------------------------------------------------------

def test_changes_name_nested_fields_by_path():
    class Server(Record):
        log: tuple
        term: int = 0

    class Cluster(Record):
        servers: Map

    before = Cluster(Map({"s1": Server(("a",)), "s2": Server(("a", "b", "c"))}))
    after = Cluster(Map({"s1": Server(("a",), 1), "s2": Server(("a", "b", "c", "d"))}))
    assert changes(before, after) == [
        ("servers[s1].term", "0 → 1"),
        ("servers[s2].log[3]", "added 'd'"),
    ]


def test_changes_report_elements_leaving_a_tuple_and_removed_map_entries():
    assert changes(("a", "b", "c"), ("a",), "log") == [
        ("log[1]", "removed 'b'"), ("log[2]", "removed 'c'")]
    assert changes((1, 2, 3), (3,), "queue") == [("queue[0]", "removed 1"),
                                               ("queue[1]", "removed 2")]
    assert changes(Map({Id("n", 0): 5}), Map({}), "m") == [("m[n0]", "removed 5")]
    assert changes(frozenset({1}), frozenset({2}), "s") == [("s", "+ 2"), ("s", "- 1")]


def test_the_text_trace_numbers_steps_and_shows_only_what_changed(tmp_path, capsys):
    path = tmp_path / "cex.txt"
    assert main([PAXOS, "-p", "q1=1", "-p", "q2=2", "--no-symmetry", "--quiet",
                 "--trace-out", str(path)]) == 12
    lines = path.read_text().splitlines()
    assert lines[0] == "Counterexample to agreement"
    assert lines[1] == " 0  init"
    assert "max_bal[acceptor0] = -1" in lines[2]
    step3 = lines.index(" 3  phase1b(acceptor0, 0)")
    assert lines[step3 + 1:step3 + 3] == [
        "      max_bal[acceptor0]: -1 → 0",
        "      msgs: + Msg1b(acc=acceptor0, bal=0, mbal=-1, mval=None)",
    ]
    assert lines[-5] == "10  phase2b(acceptor2, 0, value0)"


def test_a_non_record_state_is_shown_as_state():
    from checker.trace import Step, Trace

    trace = Trace("Counter", {}, [Step("init", 0), Step("inc", 1), Step("noop", 1)])
    assert render_text(trace).splitlines() == [
        "0  init", "     state = 0", "1  inc", "     state: 0 → 1", "2  noop", "     (no change)"]


# -- page content, without a browser -----------------------------------------------------------

@pytest.fixture(scope="module")
def paxos_run():
    model = build_model(PAXOS, {"q1": 1, "q2": 2})
    return model, check(model)


def test_the_page_is_self_contained(paxos_run):
    page = render_html(paxos_run[1], paxos_run[0])
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for forbidden in ("<link", "@import", " src=", " href=", "https:"):
        assert forbidden not in page
    assert re.findall(r"url\((?!#)", page) == [], "only local url(#marker) references"
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]


def test_the_viewer_resources_never_close_the_element_they_are_inlined_in():
    folder = ROOT / "checker" / "viewer"
    assert "</script" not in (folder / "viewer.js").read_text().lower()
    assert "<!--" not in (folder / "viewer.js").read_text()
    assert "</style" not in (folder / "viewer.css").read_text().lower()


def test_the_viewer_files_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["checker.viewer"]
    for name in ("template.html", "viewer.css", "viewer.js"):
        assert any(Path(name).match(pattern) for pattern in patterns)


def test_markup_in_the_trace_is_escaped_in_the_embedded_json():
    model = Sneaky()
    page = render_html(check(model), model)
    assert page.count("</script>") == 2
    assert "<img" not in page and "<b>" not in page and "<!--" not in page
    assert "<title>Sneaky: counterexample to harmless</title>" in page
    data = json.loads(re.search(
        r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S).group(1))
    assert data["steps"][0]["tree"][0]["v"] == repr("</script><script>window.pwned = 1</script>")
    assert data["params"] == {"note": "'<b>bold</b>'"}


def test_every_property_is_evaluated_on_every_step(paxos_run):
    data = trace_data(paxos_run[1], paxos_run[0])
    assert [p["name"] for p in data["properties"]] == ["agreement", "value_chosen"]
    assert [p["violated"] for p in data["properties"]] == [True, False]
    agreement = [step["props"][0] for step in data["steps"]]
    chosen = [step["props"][1] for step in data["steps"]]
    assert agreement == [True] * 10 + [False]
    assert chosen.index(True) == 9 and chosen[:9] == [False] * 9


def test_the_state_tree_marks_what_changed_was_added_or_removed():
    class S(Record):
        m: Map
        s: frozenset
        n: int

    tree = diff_tree(S(Map({"a": 1, "b": 2}), frozenset({1, 2}), 0),
                     S(Map({"a": 1, "c": 3}), frozenset({2, 3}), 5))
    m, s, n = tree["c"]
    assert [(c["k"], c["s"]) for c in m["c"]] == [("a", "s"), ("b", "r"), ("c", "a")]
    assert [(c["v"], c["s"]) for c in s["c"]] == [("1", "r"), ("2", "s"), ("3", "a")]
    assert (n["s"], n["o"], n["v"]) == ("c", "0", "5")


def test_actor_pages_list_the_node_ids_and_each_steps_metadata():
    model, result = ping_pong()
    data = trace_data(result, model)
    assert data["nodes"] == ["pinger0", "ponger0"]
    kinds = [step["meta"].get("kind") for step in data["steps"]]
    assert kinds == [None, "timeout", "deliver", "crash", "restart", "duplicate", "deliver",
                     "drop"]


# -- in a browser ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium "
                    "(apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shared_page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    page.close()


@pytest.fixture
def open_page(shared_page):
    """Load a viewer file into the module's page (a fresh document each time); the test fails
    if the page's script raised."""

    def open_(path):
        shared_page.goto(Path(path).resolve().as_uri())
        return shared_page

    shared_page.errors.clear()
    yield open_
    assert shared_page.errors == []


@pytest.fixture(scope="module")
def paxos_page(tmp_path_factory, paxos_run):
    path = tmp_path_factory.mktemp("viewer") / "paxos.html"
    write_html(paxos_run[1], paxos_run[0], path)
    return path


@pytest.fixture(scope="module")
def ping_pong_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("viewer") / "pingpong.html"
    model, result = ping_pong()
    write_html(result, model, path)
    return path


def selected(page):
    return int(page.locator("body").get_attribute("data-step"))


def test_the_page_opens_on_the_violating_step_and_clicking_a_step_shows_its_changes(
        open_page, paxos_page):
    page = open_page(paxos_page)
    assert selected(page) == 10
    assert page.locator(".step.selected .label").inner_text().startswith(
        "phase2b(acceptor2, 0, value0)")
    page.locator('.step[data-step="3"]').click()
    assert page.locator("#step-title").text_content() == "3  phase1b(acceptor0, 0)"
    assert page.locator("#changes li").all_inner_texts() == [
        "max_bal[acceptor0]: -1 → 0",
        "msgs: + Msg1b(acc=acceptor0, bal=0, mbal=-1, mval=None)",
    ]
    changed = page.locator("#state .leaf.changed")
    assert changed.count() == 1
    assert changed.inner_text().replace("\n", "") == "acceptor0: -1→0"
    added = page.locator("#state details.added > summary")
    assert added.count() == 1 and "Msg1b(acc=acceptor0, bal=0" in added.inner_text()
    unchanged = page.locator("#state > details.same")
    assert unchanged.count() == 2 and not unchanged.first.evaluate("d => d.open")
    page.locator("#hide-unchanged").check()
    assert not unchanged.first.is_visible()
    assert page.locator("#state > details.changed").first.is_visible()


def test_arrow_keys_j_k_home_and_end_move_between_steps(open_page, paxos_page):
    page = open_page(paxos_page)
    page.keyboard.press("Home")
    assert selected(page) == 0
    assert page.locator("#changes li").all_inner_texts() == ["initial state"]
    for key, expected in [("j", 1), ("ArrowDown", 2), ("ArrowRight", 3), ("k", 2),
                          ("ArrowUp", 1), ("ArrowLeft", 0), ("ArrowLeft", 0), ("End", 10),
                          ("j", 10)]:
        page.keyboard.press(key)
        assert selected(page) == expected, key
    assert page.locator("#step-title").text_content().startswith("10  phase2b")
    page.goto(paxos_page.resolve().as_uri() + "#step=4")
    assert selected(page) == 4


def test_the_property_panel_shows_values_at_the_selected_step_and_jumps_to_the_break(
        open_page, paxos_page):
    page = open_page(paxos_page)
    rows = page.locator("#properties tbody tr")
    assert rows.count() == 2
    violated = page.locator('#properties tr.violated[data-property="agreement"]')
    assert violated.locator(".value").inner_text() == "✗ broken"
    assert "violated" in violated.inner_text()
    page.keyboard.press("Home")
    assert violated.locator(".value").inner_text() == "✓ holds"
    chosen = page.locator('#properties tr[data-property="value_chosen"] .value')
    assert chosen.inner_text() == "not reached"
    violated.locator("button.jump").click()
    assert selected(page) == 10
    assert page.locator('.step[data-step="10"] .badge.broken').inner_text() == "✗ agreement"


def test_the_sequence_chart_has_a_lifeline_per_node_and_arrows_jump_to_their_steps(
        open_page, tmp_path):
    path = tmp_path / "naive.html"
    assert main([NAIVE, "--quiet", "--trace-out", str(path)]) == 12
    page = open_page(path)
    assert page.locator("#chart-panel").is_visible()
    names = page.locator("#chart .node-name").all_text_contents()
    assert names == ["proposer0", "proposer1", "acceptor0", "acceptor1", "acceptor2"]
    arrows = page.locator("#chart .item.deliver")
    assert arrows.count() == 8
    arrow = page.locator('#chart .item.deliver[data-step="5"]')
    arrow.locator("line.hit").click(force=True)
    assert selected(page) == 5
    assert "current" in arrow.get_attribute("class")
    assert page.locator("#step-title").text_content().startswith(
        "5  deliver(proposer0 → acceptor2")
    page.locator('#chart .row[data-step="2"]').click(position={"x": 10, "y": 10})
    assert selected(page) == 2


def test_faults_and_timers_appear_in_the_chart_and_jump_to_their_steps(open_page,
                                                                        ping_pong_page):
    page = open_page(ping_pong_page)
    expected = {"timeout": 1, "crash": 3, "restart": 4, "duplicate": 5, "drop": 7}
    for kind, step in expected.items():
        item = page.locator(f"#chart .item.{kind}")
        assert item.count() == 1, kind
        assert item.get_attribute("data-step") == str(step)
        item.dispatch_event("click")
        assert selected(page) == step, kind
    assert page.locator("#chart .item.deliver").count() == 2
    assert page.locator("#chart line.down").count() == 1
    page.keyboard.press("End")
    assert page.locator("#step-meta .badge.fault").count() == 1
    assert page.locator('.step[data-step="3"] .badge.fault').inner_text() == "crash"


def test_markup_in_states_labels_and_parameters_renders_as_text(open_page, tmp_path):
    model = Sneaky()
    path = tmp_path / "sneaky.html"
    write_html(check(model), model, path)
    page = open_page(path)
    for key in ("Home", "j", "End"):
        page.keyboard.press(key)
        assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("img, b, #state script").count() == 0
    assert page.locator("script").count() == 2
    assert page.locator("#step-title").text_content() == (
        "1  write(<img src=x onerror='window.pwned=2'>)")
    page.keyboard.press("Home")
    assert "'</script><script>window.pwned = 1</script>'" in page.locator("#state").inner_text()
    assert "quote: " + repr("\"'&amp; <!--") in page.locator("#state").inner_text()
    assert "note='<b>bold</b>'" in page.locator("#summary").inner_text()


def test_a_screenshot_of_the_viewer_is_a_png(open_page, ping_pong_page, tmp_path):
    page = open_page(ping_pong_page)
    page.keyboard.press("Home")
    page.keyboard.press("j")
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
