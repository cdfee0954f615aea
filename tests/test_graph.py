"""--graph-out: the state graph of small models as DOT and GraphML."""

from pathlib import Path

import pytest

from checker import InvalidInput, Model, action, invariant, param
from checker.cli import main
from checker.graph import build_graph, to_dot, write_graph
from checker.loader import build_model

nx = pytest.importorskip("networkx", reason="networkx is a test dependency")

ROOT = Path(__file__).resolve().parent.parent
TWO_PHASE = str(ROOT / "models" / "two_phase_commit.py")
PAXOS = str(ROOT / "models" / "paxos.py")


class Counter(Model):
    limit = param(4, range(1, 10), "largest value")

    def init(self):
        return 0

    @action
    def inc(self, s):
        return s + 1 if s < self.limit else None

    @action
    def reset(self, s):
        return 0 if s == 2 else None

    @invariant
    def below_three(self, s):
        return s < 3


def test_the_counter_graph_has_its_states_in_bfs_order_with_labelled_edges():
    graph = build_graph(Counter())
    assert list(graph.nodes) == ["s0", "s1", "s2", "s3", "s4"]
    assert [(a, b, d["label"]) for a, b, d in graph.edges(data=True)] == [
        ("s0", "s1", "inc"), ("s1", "s2", "inc"), ("s2", "s3", "inc"), ("s2", "s0", "reset"),
        ("s3", "s4", "inc"),
    ]
    nodes = graph.nodes
    assert [n for n in nodes if nodes[n]["initial"]] == ["s0"]
    assert [n for n in nodes if nodes[n]["violates"]] == ["s3", "s4"]
    assert nodes["s3"]["violates"] == "below_three"
    assert [n for n in nodes if nodes[n]["deadlock"]] == ["s4"]
    assert nodes["s2"]["label"] == "2"


def test_the_dot_text_marks_initial_and_violating_states():
    assert to_dot(build_graph(Counter(limit=3))) == (
        'digraph "Counter" {\n'
        '  label="limit=3";\n'
        '  node [shape=box, fontname="monospace", fontsize=10];\n'
        '  edge [fontname="monospace", fontsize=9];\n'
        '  s0 [label="0\\l", peripheries=2, initial=true];\n'
        '  s1 [label="1\\l"];\n'
        '  s2 [label="2\\l"];\n'
        '  s3 [label="3\\l", color=red, style=filled, fillcolor="#ffd6d6", '
        'violates="below_three", deadlock=true];\n'
        '  s0 -> s1 [label="inc"];\n'
        '  s1 -> s2 [label="inc"];\n'
        '  s2 -> s3 [label="inc"];\n'
        '  s2 -> s0 [label="reset"];\n'
        "}\n"
    )


def test_two_phase_commit_with_three_rms_has_the_288_states_tlc_reports(tmp_path):
    model = build_model(TWO_PHASE, {"rms": 3})
    path = tmp_path / "2pc.graphml"
    write_graph(model, path)
    graph = nx.read_graphml(path)
    assert graph.number_of_nodes() == 288
    assert sum(1 for _, d in graph.nodes(data=True) if d["initial"]) == 1
    assert not any(d["violates"] for _, d in graph.nodes(data=True))
    labels = {d["label"] for _, _, d in graph.edges(data=True)}
    assert {"tm_commit", "tm_abort", "rm_prepare(rm0)"} <= labels


def test_with_symmetry_the_graph_has_one_node_per_orbit():
    symmetry = pytest.importorskip("checker.symmetry", reason="symmetry not available")
    model = build_model(TWO_PHASE, {"rms": 3})
    plain = build_graph(model)
    reduced = build_graph(model, symmetry.canonical_fingerprint(model))
    assert reduced.number_of_nodes() < plain.number_of_nodes() == 288


class Quoted(Model):
    deadlock = False

    def init(self):
        return 'say "hi" \\ '


def test_quotes_and_backslashes_in_states_are_escaped_in_dot():
    node = to_dot(build_graph(Quoted())).splitlines()[4]
    assert node == r'''  s0 [label="'say \"hi\" \\\\ '\l", peripheries=2, initial=true];'''


def test_the_cli_writes_dot_with_one_line_per_state(tmp_path, capsys):
    path = tmp_path / "2pc.dot"
    assert main([TWO_PHASE, "-p", "rms=2", "--no-symmetry", "--quiet",
                 "--graph-out", str(path)]) == 0
    text = path.read_text()
    assert text.startswith('digraph "TwoPhaseCommit" {')
    assert "tm_state = 'init'" in text
    node_lines = [line for line in text.splitlines() if line.startswith("  s") and "->" not in line]
    assert len(node_lines) == build_graph(build_model(TWO_PHASE, {"rms": 2})).number_of_nodes()


def test_a_model_above_the_limit_is_refused_with_exit_150(tmp_path, capsys, monkeypatch):
    import checker.graph

    with pytest.raises(InvalidInput, match="more than 50 states"):
        build_graph(build_model(PAXOS, {}), limit=50)
    monkeypatch.setattr(checker.graph, "MAX_GRAPH_STATES", 100)
    code = main([TWO_PHASE, "-p", "rms=3", "--no-symmetry", "--quiet",
                 "--graph-out", str(tmp_path / "big.dot")])
    assert code == 150
    err = capsys.readouterr().err
    assert "more than 100 states; the state graph is for small models" in err
    assert not (tmp_path / "big.dot").exists()


def test_an_unknown_graph_extension_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="use a .dot or .graphml file"):
        write_graph(Counter(), tmp_path / "graph.png")
