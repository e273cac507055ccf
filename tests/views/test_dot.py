"""Drawings: DOT text (always, parsed back with pydot), pydot graphs, and SVG/PNG
rendering through graphviz's ``dot`` (when it is installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio
import pytest

import jobgraph as jg
from jobgraph.views import _dot

pydot = _dot.import_pydot()

pytestmark = pytest.mark.anyio

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAS_DOT, reason="graphviz's dot is not installed (apt-get install graphviz)"
)
SVG = "{http://www.w3.org/2000/svg}"


async def value(x: Any) -> Any:
    await anyio.sleep(0.001)
    return x


async def boom() -> None:
    await anyio.sleep(0.001)
    raise ValueError("boom")


async def forever() -> None:
    await anyio.sleep_forever()


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


class Parsed:
    """A DOT text parsed back by pydot, with names and attributes unquoted."""

    def __init__(self, text: str) -> None:
        graphs = pydot.graph_from_dot_data(text)
        assert graphs is not None and len(graphs) == 1
        self.graph = graphs[0]
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.invisible: list[tuple[str, str]] = []  # layout hints, not requirements
        self.clusters: dict[str, dict[str, str]] = {}
        self._collect(self.graph)

    def _collect(self, graph: Any) -> None:
        for node in graph.get_nodes():
            name = unquote(node.get_name())
            if name not in ("graph", "node", "edge"):
                self.nodes[name] = {k: unquote(v) for k, v in node.get_attributes().items()}
        for edge in graph.get_edges():
            attributes = {k: unquote(v) for k, v in edge.get_attributes().items()}
            ends = (unquote(edge.get_source()), unquote(edge.get_destination()))
            if attributes.get("style") == "invis":
                self.invisible.append(ends)
            else:
                self.edges.append((*ends, attributes))
        for sub in graph.get_subgraphs():
            defaults: dict[str, str] = {}
            for chunk in sub.get_graph_defaults():
                defaults.update({k: unquote(v) for k, v in chunk.items()})
            self.clusters[unquote(sub.get_name())] = defaults
            self._collect(sub)

    def pairs(self) -> set[tuple[str, str]]:
        return {(source, target) for source, target, _ in self.edges}


def example() -> tuple[jg.Scheduler, dict[str, jg.AbstractJob]]:
    jobs: dict[str, jg.AbstractJob] = {}
    jobs["init"] = jg.Job(value, 1, label="init", critical=False)
    jobs["crit"] = jg.Job(value, 2, label="critical job", requires=jobs["init"])
    jobs["daemon"] = jg.Job(forever, label="forever job", forever=True, critical=False)
    inner_a = jg.Job(value, 3, label="inner-a")
    inner_b = jg.Job(value, 4, label="inner-b", requires=inner_a)
    jobs["nested"] = jg.Scheduler(inner_a, inner_b, label="nested", requires=jobs["crit"])
    jobs["after"] = jg.Job(value, 5, label="after", critical=False, requires=jobs["nested"])
    scheduler = jg.Scheduler(*jobs.values(), label="example")
    return scheduler, jobs


def test_dot_text_parses_back_with_every_job_and_edge() -> None:
    scheduler, _ = example()
    parsed = Parsed(scheduler.dot_format())
    assert {attrs["label"] for attrs in parsed.nodes.values()} == {
        "1: init",
        "2: forever job",
        "3: critical job",
        "5: inner-a",
        "6: inner-b",
        "7: after",
    }
    assert parsed.clusters["cluster_4"]["label"] == "4: nested"
    assert parsed.pairs() == {("1", "3"), ("3", "5"), ("5", "6"), ("6", "7")}
    into_cluster = next(e for e in parsed.edges if e[:2] == ("3", "5"))
    out_of_cluster = next(e for e in parsed.edges if e[:2] == ("6", "7"))
    assert into_cluster[2] == {"lhead": "cluster_4", "minlen": "2"}
    assert out_of_cluster[2] == {"ltail": "cluster_4", "minlen": "2"}


def test_dot_styles_carry_meaning() -> None:
    scheduler, _ = example()
    parsed = Parsed(scheduler.dot_format())
    critical, plain, daemon = parsed.nodes["3"], parsed.nodes["1"], parsed.nodes["2"]
    assert critical["color"] == "red" and critical["penwidth"] == "2"
    assert plain.get("color") is None and float(plain["penwidth"]) < 1
    assert "dashed" in daemon["style"].split(",")
    assert "dashed" not in critical["style"].split(",")
    assert all("rounded" in attrs["style"].split(",") for attrs in parsed.nodes.values())
    cluster = parsed.clusters["cluster_4"]
    assert "rounded" not in cluster.get("style", "").split(",")
    assert cluster["color"] == "red"
    # before a run nothing is filled
    assert all("fillcolor" not in attrs for attrs in parsed.nodes.values())


async def test_dot_colours_tell_outcomes_after_a_run() -> None:
    ok = jg.Job(value, 1, label="ok")
    failed = jg.Job(boom, label="failed", critical=False)
    skipped = jg.Job(value, 2, label="skipped", requires=failed, on_failed_requirement="skip")
    daemon = jg.Job(forever, label="daemon", forever=True)
    scheduler = jg.Scheduler(ok, failed, skipped, daemon)
    assert await scheduler.run()
    parsed = Parsed(scheduler.dot_format())
    fill = {attrs["label"].split(": ")[1]: attrs["fillcolor"] for attrs in parsed.nodes.values()}
    colours = _dot.OUTCOME_COLOURS
    assert fill == {
        "ok": colours["ok"],
        "failed": colours["failed"],
        "skipped": colours["skipped"],
        "daemon": colours["cancelled"],
    }
    assert len(set(fill.values())) == 4


async def test_dot_greys_out_jobs_that_never_ran() -> None:
    bad = jg.Job(boom, label="bad")
    never = jg.Job(value, 1, label="never", requires=bad)
    scheduler = jg.Scheduler(bad, never)
    assert not await scheduler.run()
    parsed = Parsed(scheduler.dot_format())
    assert parsed.nodes["2"]["fillcolor"] == _dot.OUTCOME_COLOURS["idle"]
    assert parsed.nodes["2"]["fontcolor"] == _dot.NEVER_RAN_FONT
    assert parsed.nodes["1"]["fillcolor"] == _dot.OUTCOME_COLOURS["failed"]


def test_dot_labels_are_escaped() -> None:
    tricky = 'say "hi" \\ C:\\temp\nsecond line \u2615 caf\u00e9'
    scheduler = jg.Scheduler(jg.Job(value, 1, label=tricky), label='the "main" one')
    text = scheduler.dot_format()
    assert '"1: say \\"hi\\" \\\\ C:\\\\temp\\nsecond line \u2615 caf\u00e9"' in text
    assert "\nsecond" not in text  # the newline did not break the DOT text
    parsed = Parsed(text)
    assert (
        parsed.nodes["1"]["label"]
        == '1: say \\"hi\\" \\\\ C:\\\\temp\\nsecond line \u2615 caf\u00e9'
    )


def test_dot_quote_escapes_each_special_character() -> None:
    assert _dot.dot_quote('a"b') == '"a\\"b"'
    assert _dot.dot_quote("a\\b") == '"a\\\\b"'
    assert _dot.dot_quote("a\r\nb\nc") == '"a\\nb\\nc"'
    assert _dot.dot_quote("\u00e9\u221e") == '"\u00e9\u221e"'


def test_graph_label_of_job_kinds_is_used() -> None:
    class Step(jg.AbstractJob):
        async def run(self) -> None:
            return None

        def graph_label(self) -> str | None:
            return f"step\n{self.label}"

    parsed = Parsed(jg.Scheduler(Step(label="compile")).dot_format())
    assert parsed.nodes["1"]["label"] == "step\\ncompile"


def test_dot_handles_schedulers_next_to_schedulers_and_empty_ones() -> None:
    first = jg.Scheduler(jg.Job(value, 1, label="x"), label="first")
    empty = jg.Scheduler(label="empty", requires=first)
    second = jg.Scheduler(jg.Job(value, 2, label="y"), label="second", requires=empty)
    parsed = Parsed(jg.Scheduler(first, empty, second).dot_format())
    assert set(parsed.clusters) == {"cluster_1", "cluster_3", "cluster_4"}
    assert parsed.nodes["3-empty"]["label"] == "(empty)"
    between = {(s, t): attrs for s, t, attrs in parsed.edges}
    assert between[("2", "3-empty")] == {"lhead": "cluster_3", "ltail": "cluster_1", "minlen": "3"}
    assert between[("3-empty", "5")] == {"lhead": "cluster_4", "ltail": "cluster_3", "minlen": "3"}


def nested_everywhere() -> jg.Scheduler:
    """Edges into, out of and between nested schedulers, one of them two deep."""
    first = jg.Job(value, 0, label="prepare")
    deep = jg.Scheduler(jg.Job(value, 1, label="deep one"), label="deep")
    middle = jg.Scheduler(deep, jg.Job(value, 2, label="mid after"), label="mid")
    middle.jobs[-1].requires(deep)
    middle.requires(first)
    second = jg.Scheduler(jg.Job(value, 3, label="inside"), label="second", requires=middle)
    after = jg.Job(value, 4, label="after", requires=middle)
    last = jg.Job(value, 5, label="last", requires=second)
    return jg.Scheduler(first, middle, second, after, last, label="drawing")


def test_edges_at_a_cluster_border_get_a_row_more_per_border() -> None:
    """Clipped at a nested scheduler's border one row away, an edge was drawn as a bare
    arrowhead against the cluster's label."""
    parsed = Parsed(nested_everywhere().dot_format())
    clipped = 0
    for source, target, attributes in parsed.edges:
        borders = ("lhead" in attributes) + ("ltail" in attributes)
        clipped += bool(borders)
        assert attributes.get("minlen", "1") == str(1 + borders), (source, target)
    assert clipped == 5
    assert parsed.graph.get("compound") == "true"


@needs_dot
def test_every_edge_of_a_rendered_drawing_is_longer_than_its_arrowhead() -> None:
    text = nested_everywhere().dot_format()
    dot = shutil.which("dot")
    assert dot is not None
    plain = subprocess.run(
        [dot, "-Tplain"], input=text, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    lengths = {}
    for line in plain.splitlines():
        fields = line.split()
        if fields[0] != "edge" or "invis" in fields:
            continue
        count = int(fields[3])  # the spline's points, in inches, arrowhead left out
        points = [float(number) for number in fields[4 : 4 + 2 * count]]
        (x0, y0), (x1, y1) = points[:2], points[-2:]
        lengths[fields[1], fields[2]] = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    assert len(lengths) == 5
    short = {edge: round(length, 3) for edge, length in lengths.items() if length < 0.3}
    assert short == {}  # a bare arrowhead measured 0.006 inch


def test_dot_refuses_cycles() -> None:
    a = jg.Job(value, 1, label="a")
    b = jg.Job(value, 2, label="b", requires=a)
    a.requires(b)
    scheduler = jg.Scheduler(a, b)
    with pytest.raises(jg.CycleError):
        scheduler.dot_format()
    assert scheduler._repr_svg_() is None


def test_export_as_dotfile_writes_the_dot_text(tmp_path: Path) -> None:
    scheduler, _ = example()
    target = tmp_path / "graph.dot"
    assert scheduler.export_as_dotfile(target) == f"(Over)wrote {target}"
    assert target.read_text(encoding="utf-8") == scheduler.dot_format()


def test_graph_returns_a_pydot_graph() -> None:
    scheduler, _ = example()
    graph = scheduler.graph()
    assert isinstance(graph, pydot.Dot)
    assert graph.get_node('"3"')[0].get("label") == '"3: critical job"'


def test_rendering_without_dot_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    scheduler, _ = example()
    with pytest.raises(FileNotFoundError, match="apt-get install graphviz"):
        scheduler.export_as_svgfile(tmp_path / "graph")
    assert scheduler._repr_svg_() is None


@needs_dot
def test_svg_file_is_rendered_by_dot(tmp_path: Path) -> None:
    scheduler, _ = example()
    written = scheduler.export_as_svgfile(tmp_path / "graph")
    assert written == str(tmp_path / "graph.svg")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["graph.svg"]  # no graph.dot
    root = ET.parse(written).getroot()
    texts = {text.text for text in root.iter(f"{SVG}text")}
    assert {"1: init", "3: critical job", "4: nested", "7: after"} <= texts


@needs_dot
def test_png_file_is_rendered_by_dot(tmp_path: Path) -> None:
    scheduler, _ = example()
    written = scheduler.export_as_pngfile(str(tmp_path / "graph.png"))
    assert written == str(tmp_path / "graph.png")
    assert Path(written).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert scheduler.export_as_graphic(tmp_path / "graph", "pdf").endswith("graph.pdf")
    assert (tmp_path / "graph.pdf").read_bytes()[:4] == b"%PDF"


@needs_dot
def test_svg_for_notebooks_shows_escaped_labels() -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1, label='say "hi"\nC:\\temp \u2615'))
    svg = scheduler._repr_svg_()
    assert svg is not None
    root = ET.fromstring(svg)
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert '1: say "hi"' in texts
    assert "C:\\temp \u2615" in texts


@needs_dot
def test_rendering_failure_is_reported(tmp_path: Path) -> None:
    scheduler, _ = example()
    with pytest.raises(RuntimeError, match="dot failed"):
        scheduler.export_as_graphic(tmp_path / "graph", "no-such-format")


def test_dot_flags_requirements_on_other_schedulers_as_refused() -> None:
    # run() refuses them and list() flags them: the drawing shows them as refused, from
    # a placeholder that is not a job of the drawing
    stranger = jg.Job(value, 0, label="stranger")
    scheduler = jg.Scheduler(jg.Job(value, 1, label="mine", requires=stranger))
    parsed = Parsed(scheduler.dot_format())
    assert set(parsed.nodes) == {"1", "outside-0"}
    assert parsed.nodes["outside-0"]["label"] == "'stranger'"
    assert parsed.edges == [
        (
            "outside-0",
            "1",
            {
                "color": "red",
                "fontcolor": "red",
                "style": "dashed",
                "label": "refused: not in this scheduler",
            },
        )
    ]


@pytest.mark.timeout(60)
def test_dot_of_many_jobs_requiring_one_nested_scheduler() -> None:
    size = 20_000  # with a quadratic lookup of the cluster's exit, 4e8 steps
    nested = jg.Scheduler(*(jg.Job(value, i, label=f"in{i}") for i in range(size)), label="n")
    after = [jg.Job(value, i, label=f"after{i}", requires=nested) for i in range(size)]
    text = jg.Scheduler(nested, *after).dot_format()
    assert text.count(" ltail=") == size
    assert text.count("subgraph ") == 1
    middle = f'"{size // 2 + 1:05d}"'  # the anchor: the middle exit of the cluster
    out_of_cluster = [line for line in text.splitlines() if line.startswith(f"{middle} -> ")]
    assert len(out_of_cluster) == size
    assert all(line.endswith('[minlen=2, ltail="cluster_00001"];') for line in out_of_cluster)


@needs_dot
def test_notebooks_show_text_for_graphs_too_big_to_draw() -> None:
    limit = _dot.NOTEBOOK_MAX_JOBS
    nested = jg.Scheduler(*(jg.Job(value, i) for i in range(limit - 2)))
    fits = jg.Scheduler(nested, jg.Job(value, 0))  # limit - 2 jobs, a scheduler, a job
    assert fits._repr_svg_() is not None
    fits.add(jg.Job(value, 1))
    assert fits._repr_svg_() is None


def layout(scheduler: jg.Scheduler) -> dict[str, Any]:
    """Where graphviz's ``dot`` puts things: node centres by name, cluster boxes by
    name, and each edge's points (from its tail to the tip of its arrow)."""
    dot = shutil.which("dot")
    assert dot is not None
    completed = subprocess.run(
        [dot, "-Tjson"],
        input=scheduler.dot_format().encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    drawn = json.loads(completed.stdout)
    names = {obj["_gvid"]: obj["name"] for obj in drawn["objects"]}
    nodes = {
        obj["name"]: tuple(float(v) for v in obj["pos"].split(","))
        for obj in drawn["objects"]
        if "pos" in obj
    }
    clusters = {
        obj["name"]: tuple(float(v) for v in obj["bb"].split(","))
        for obj in drawn["objects"]
        if obj["name"].startswith("cluster_")
    }
    edges = {}
    for edge in drawn["edges"]:
        if edge.get("style") == "invis":
            continue
        points = edge["pos"].split()
        tip = [tuple(float(v) for v in p[2:].split(",")) for p in points if p.startswith("e,")]
        spline = [tuple(float(v) for v in p.split(",")) for p in points if p[:2] != "e,"]
        edges[names[edge["tail"]], names[edge["head"]]] = [*spline, *tip]
    return {"nodes": nodes, "clusters": clusters, "edges": edges}


def pipeline() -> tuple[jg.Scheduler, list[jg.AbstractJob]]:
    fetch = jg.Job(value, 0, label="fetch")
    compiles = [jg.Job(value, n, label=f"compile {n}") for n in range(1, 5)]
    link = jg.Job(value, 5, label="link", requires=compiles)
    inner = [jg.Job(value, n, label=f"inner {n}") for n in range(3)]
    nested = jg.Scheduler(*inner, label="deep")
    build = jg.Scheduler(*compiles, link, nested, label="build", requires=fetch)
    tests = jg.Job(value, 6, label="tests", requires=build)
    lint = jg.Job(value, 7, label="lint", requires=fetch)
    return jg.Scheduler(fetch, build, tests, lint, label="pipeline"), [*compiles, *inner]


@needs_dot
def test_jobs_of_nested_clusters_keep_their_order_left_to_right() -> None:
    scheduler, rows = pipeline()
    drawn = layout(scheduler)
    compiles, inner = rows[:4], rows[4:]
    for row in (compiles, inner):
        xs = [drawn["nodes"][job.repr_id()][0] for job in row]
        ys = {drawn["nodes"][job.repr_id()][1] for job in row}
        assert xs == sorted(xs), [job.label for job in row]  # numbers grow left to right
        assert len(ys) == 1  # on one row


@needs_dot
def test_edges_to_and_from_a_nested_scheduler_stop_at_its_border() -> None:
    scheduler, _ = pipeline()
    drawn = layout(scheduler)
    fetch, build, tests = list(scheduler.jobs)[:3]
    assert isinstance(build, jg.Scheduler)
    inside = {job.repr_id() for job in build.iterate_jobs(scan_schedulers=True)}
    left, bottom, right, top = drawn["clusters"][f"cluster_{build.repr_id()}"]
    (into,) = [
        points
        for (tail, head), points in drawn["edges"].items()
        if tail == fetch.repr_id() and head in inside
    ]
    # the arrow into the cluster ends on its top border, not on a job inside
    assert into[-1][1] == pytest.approx(top, abs=1.0)
    assert left <= into[-1][0] <= right
    (out,) = [
        points
        for (tail, head), points in drawn["edges"].items()
        if head == tests.repr_id() and tail in inside
    ]
    # the edge out of the cluster starts on its bottom border
    assert out[0][1] == pytest.approx(bottom, abs=1.0)
    assert left <= out[0][0] <= right


def test_png_export_leaves_no_dot_file_behind(tmp_path: Path) -> None:
    if not HAS_DOT:
        pytest.skip("graphviz's dot is not installed")
    scheduler, _ = pipeline()
    assert scheduler.export_as_pngfile(str(tmp_path / "x.png")) == str(tmp_path / "x.png")
    assert scheduler.export_as_pngfile(tmp_path / "y") == str(tmp_path / "y.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["x.png", "y.png"]
    jg.views.export_as_graphic(scheduler, tmp_path / "z", "svg", keep_dot=True)
    assert (tmp_path / "z.dot").read_text(encoding="utf-8") == scheduler.dot_format()
