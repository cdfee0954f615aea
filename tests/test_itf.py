"""ITF traces: the encoding of values, the file layout, and reading them back."""

import enum
import json
from pathlib import Path

import pytest

from checker import Bag, Id, InvalidInput, Map, Record
from checker.cli import main
from checker.explore import check
from checker.itf import (
    FORMAT_DESCRIPTION,
    TypeRegistry,
    decode,
    decode_trace,
    encode,
    read_itf,
    trace_to_itf,
    type_registry,
)
from checker.loader import build_model

ROOT = Path(__file__).resolve().parent.parent
PAXOS = str(ROOT / "models" / "paxos.py")
NAIVE = str(ROOT / "models" / "naive_paxos.py")


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Point(Record):
    x: int
    y: int = 0


class Empty(Record):
    pass


TYPES = TypeRegistry({"Point": Point, "Empty": Empty}, {"Color": Color})


def bigint(n):
    return {"#bigint": str(n)}


def test_every_kind_of_value_survives_encoding_and_decoding():
    values = [
        True, False, "", "text with \"quotes\" and </script>", 0, -7, 2**80,
        (), (1, "a"), frozenset(), frozenset({Id("n", 0), Id("n", 1)}),
        Map({Id("n", 0): Point(1, 2), Id("n", 1): None}), Bag({"m": 2}),
        Point(3), Empty(), Color.BLUE, None, [1, 2],
        frozenset({(Id("a", 1), Point(1, 1)), (Id("a", 0), Empty())}),
        Map({(Id("a", 0), Id("b", 1)): (Point(0, 0),)}),
    ]
    for value in values:
        decoded = decode(json.loads(json.dumps(encode(value))), TYPES)
        assert decoded == value
        assert type(decoded) is (Map if isinstance(value, dict) else type(value))


def test_integers_are_bigints_and_records_ids_none_enums_are_variants():
    assert encode(5) == bigint(5)
    assert encode(True) is True
    assert encode(Point(1, 2)) == {"tag": "Point", "value": {"x": bigint(1), "y": bigint(2)}}
    assert encode(Id("acceptor", 2)) == {"tag": "Id",
                                         "value": {"kind": "acceptor", "index": bigint(2)}}
    assert encode(None) == {"tag": "NoneType", "value": {}}
    assert encode(Color.RED) == {"tag": "Color", "value": "RED"}
    assert encode((1, "a")) == {"#tup": [bigint(1), "a"]}
    assert encode(Bag({"m": 2})) == {"#map": [["m", bigint(2)]]}
    assert encode(1.5) == {"#unserializable": "1.5"}


def test_sets_and_maps_are_sorted_by_canonical_json_text():
    assert encode(frozenset({3, 1, 2})) == {"#set": [bigint(1), bigint(2), bigint(3)]}
    assert encode(Map({"b": 1, "a": 2})) == {"#map": [["a", bigint(2)], ["b", bigint(1)]]}
    big = frozenset(range(12))
    assert encode(big) == encode(frozenset(reversed(range(12))))


def test_decoding_rejects_malformed_values_with_one_line_errors():
    bad = [
        {"#bigint": "12x"},
        {"#bigint": 12},
        {"#set": "abc"},
        {"#map": [[1]]},
        {"#unserializable": "1.5"},
        {"tag": "Unknown", "value": {}},
        {"tag": "Point", "value": {"x": bigint(1)}},
        {"tag": "Color", "value": "GREEN"},
        {"x": bigint(1)},
        {"#set": [[1, 2]]},
        1.5,
        None,
    ]
    for data in bad:
        with pytest.raises(InvalidInput) as info:
            decode(data, TYPES, "states[2].x")
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("states[2].x")


def test_decoding_builds_only_known_classes_and_never_runs_code_from_the_file():
    payload = {"tag": "__import__('os').system('false')", "value": {}}
    with pytest.raises(InvalidInput, match="defines no record"):
        decode(payload, TYPES)
    with pytest.raises(InvalidInput, match="do not match record Point"):
        decode({"tag": "Point", "value": {"x": bigint(1), "y": bigint(2), "z": bigint(3)}}, TYPES)


@pytest.fixture(scope="module")
def paxos_itf(tmp_path_factory):
    path = tmp_path_factory.mktemp("itf") / "cex.itf.json"
    code = main([PAXOS, "-p", "q1=1", "-p", "q2=2", "--no-symmetry", "--quiet",
                 "--trace-out", str(path)])
    assert code == 12
    return path


def test_a_paxos_counterexample_loads_with_the_third_party_itf_py_reader(paxos_itf):
    itf_py = pytest.importorskip("itf_py", reason="itf-py is a test dependency")
    trace = itf_py.trace_from_json(json.loads(paxos_itf.read_text()))
    assert trace.vars == ["max_bal", "max_vbal", "max_val", "msgs"]
    assert len(trace.states) == 11
    assert trace.meta["format"] == "ITF"
    first, last = trace.states[0], trace.states[-1]
    assert first.values["msgs"] == frozenset()
    assert all(value == -1 for value in first.values["max_bal"].values())
    acceptor2 = next(k for k in last.values["max_val"] if k.index == 2)
    assert acceptor2.kind == "acceptor"
    assert last.values["max_val"][acceptor2] == ("value", 0)
    ballots = sorted(m.bal for m in last.values["msgs"] if type(m).__name__ == "Msg1a")
    assert ballots == [0, 1]
    assert last.meta["action"] == "phase2b(acceptor2, 0, value0)"


def test_the_itf_file_carries_model_parameters_property_and_each_steps_action(paxos_itf):
    data = json.loads(paxos_itf.read_text())
    meta = data["#meta"]
    assert meta["format"] == "ITF" and meta["format-description"] == FORMAT_DESCRIPTION
    assert meta["source"].endswith("paxos.py") and meta["model"] == "Paxos"
    assert meta["params"]["q1"] == bigint(1) and meta["params"]["acceptors"] == bigint(3)
    assert (meta["status"], meta["property"], meta["property_kind"]) == (
        "violation", "agreement", "invariant")
    assert meta["state_type"] == "State"
    assert [s["#meta"]["index"] for s in data["states"]] == list(range(11))
    step = data["states"][3]["#meta"]
    assert step["action"] == "phase1b(acceptor0, 0)" and step["name"] == "phase1b"
    assert step["args"] == [encode(Id("acceptor", 0)), bigint(0)]
    assert "timestamp" not in meta


def test_writing_the_same_counterexample_twice_gives_identical_bytes_one_state_a_line(
        paxos_itf, tmp_path):
    again = tmp_path / "again.itf.json"
    assert main([PAXOS, "-p", "q1=1", "-p", "q2=2", "--no-symmetry", "--quiet",
                 "--trace-out", str(again)]) == 12
    assert again.read_bytes() == paxos_itf.read_bytes()
    state_lines = [line for line in again.read_text().splitlines() if '"#meta":{"index"' in line]
    assert len(state_lines) == 11


def test_decoding_a_written_trace_gives_back_the_exact_states_and_arguments():
    model = build_model(PAXOS, {"q1": 1, "q2": 2})
    result = check(model)
    document = json.loads(json.dumps(trace_to_itf(result.trace, model, result)))
    path_free = read_itf_from(document)
    trace = decode_trace(path_free, type_registry(model))
    assert [s.state for s in trace.steps] == [s.state for s in result.trace.steps]
    assert [type(s.state) for s in trace.steps] == [type(s.state) for s in result.trace.steps]
    assert [s.args for s in trace.steps] == [s.args for s in result.trace.steps]
    assert [s.action for s in trace.steps] == [s.action for s in result.trace.steps]


def read_itf_from(document):
    from checker.itf import ItfDocument

    return ItfDocument("trace.json", document["#meta"], document["vars"], document["states"])


def test_actor_trace_states_record_the_actor_and_the_kind_of_step(tmp_path):
    path = tmp_path / "naive.itf.json"
    assert main([NAIVE, "--quiet", "--trace-out", str(path)]) == 12
    data = json.loads(path.read_text())
    assert data["vars"] == ["nodes", "network", "timers", "crashed", "faults"]
    assert data["#meta"]["state_type"] == "World"
    step = data["states"][1]["#meta"]
    assert (step["kind"], step["actor"], step["fault"]) == ("deliver", "acceptor0", False)
    assert step["message"]["src"] == "proposer0"
    assert step["args"][0]["tag"] == "Envelope"
    itf_py = pytest.importorskip("itf_py", reason="itf-py is a test dependency")
    loaded = itf_py.trace_from_json(data)
    envelope = next(iter(loaded.states[-1].values["network"]))
    assert type(envelope).__name__ == "Envelope" and envelope.dst.kind == "acceptor"
    model = build_model(NAIVE, {})
    trace = decode_trace(read_itf(path), type_registry(model))
    assert trace.steps[-1].state.network is not None
    assert type(trace.steps[1].args[0]).__name__ == "Envelope"


def test_non_record_states_are_the_single_variable_state():
    from checker.trace import Step, Trace

    trace = Trace("Counter", {"limit": 3}, [Step("init", 0, name="init"),
                                            Step("inc", 1, name="inc")])
    document = trace_to_itf(trace)
    assert document["vars"] == ["state"]
    assert document["states"][1]["state"] == bigint(1)
    assert document["#meta"]["state_type"] is None
    decoded = decode_trace(read_itf_from(document), TYPES)
    assert [s.state for s in decoded.steps] == [0, 1]


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[]", "JSON object"),
    ('{"vars": ["x"]}', "'states' must be a non-empty list"),
    ('{"vars": "x", "states": [{}]}', "'vars' must be a list"),
    ('{"vars": ["x"], "states": [{"y": 1}]}', "has no value for 'x'"),
    ('{"vars": ["x"], "states": [5]}', "is not an object"),
])
def test_malformed_trace_files_are_invalid_input(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        read_itf(path)
