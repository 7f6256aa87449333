"""The Python component scanner over real files, with real child processes.

The application modules written here must never be imported by the test process: every check
of what they contain goes through the scanner's child.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import psutil
import pytest

from jsbus.backends import COMPONENT_KINDS
from jsbus.config import load_bus_config
from jsbus.plugins import PluginHost
from jsbus_plugins.scan_python import scan
from jsbus_plugins.scan_python.isolation import MAX_RESTARTS, scan_entries

pytestmark = pytest.mark.timeout(60)

SHOP = {
    "shop/__init__.py": "",
    "shop/__main__.py": "import os\nos._exit(9)\n",
    "shop/tasks.py": """
        from jsagent.api import Batchlet

        class Cleanup(Batchlet):
            def process(self):
                return "DONE"

        class _Helper(Batchlet):
            pass

        Alias = Cleanup
    """,
    "shop/chunk.py": """
        import abc
        from jsagent.api import Batchlet, ItemReader, ItemWriter

        class LineReader(ItemReader):
            def read_item(self):
                return None

        class LineWriter(ItemWriter):
            def write_items(self, items):
                pass

        class SourceReader(ItemReader, abc.ABC):
            @abc.abstractmethod
            def source(self): ...
    """,
    "shop/named.py": """
        from jsagent.api import named

        @named("greeter")
        class Greeter:
            def process(self):
                return "hello"

        class Duck:  # not registered: the scanner does not find duck-typed classes
            def read_item(self):
                return None
    """,
    "shop/listeners.py": """
        from jsagent.api import JobListener, StepListener

        class Audit(JobListener, StepListener):
            pass
    """,
    "shop/broken.py": "raise ImportError('no database driver')\n",
    "shop/noisy.py": """
        import os, sys
        print("{not json")
        sys.stdout.flush()
        os.write(1, b"raw bytes on fd 1\\n")
        from jsagent.api import ItemProcessor

        class Upper(ItemProcessor):
            def process_item(self, item):
                return item.upper()
    """,
    "shop/exits.py": "import os\nos._exit(3)\n",
    "shop/quits.py": "import sys\nsys.exit('bye')\n",
    "shop/segfault.py": "import ctypes\nctypes.string_at(0)\n",
    "shop/sub/__init__.py": "",
    "shop/sub/routing.py": """
        from jsagent.api import Decider, PartitionMapper

        class Route(Decider):
            def decide(self, executions):
                return "GO"

        class Split(PartitionMapper):
            def map_partitions(self):
                return {"partitions": 2}
    """,
    "setup.py": "raise SystemExit('setup.py must not be imported')\n",
    "toplevel.py": """
        from jsagent.api import CheckpointAlgorithm

        class EveryTen(CheckpointAlgorithm):
            def is_ready_to_checkpoint(self):
                return True
    """,
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def found(result) -> set[tuple[str, str, str]]:
    return {(c.kind, c.ref, c.class_name) for c in result.components}


def problem_about(result, text: str) -> str:
    matches = [problem for problem in result.problems if text in problem]
    assert matches, f"no problem mentions {text!r}: {result.problems}"
    return matches[0]


def application_imported() -> list[str]:
    names = ("shop", "toplevel", "wheelapp", "zapp", "solo", "sibling", "slow")
    return [name for name in sys.modules if name.split(".")[0] in names]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    app = write_tree(tmp_path_factory.mktemp("app"), SHOP)
    return app, scan_entries([app])


def test_a_directory_yields_the_components_it_defines(shop):
    app, result = shop
    assert found(result) == {
        ("batchlet", "shop.tasks.Cleanup", "shop.tasks.Cleanup"),
        ("item-reader", "shop.chunk.LineReader", "shop.chunk.LineReader"),
        ("item-writer", "shop.chunk.LineWriter", "shop.chunk.LineWriter"),
        ("batchlet", "greeter", "shop.named.Greeter"),
        ("listener", "shop.listeners.Audit", "shop.listeners.Audit"),
        ("item-processor", "shop.noisy.Upper", "shop.noisy.Upper"),
        ("decider", "shop.sub.routing.Route", "shop.sub.routing.Route"),
        ("partition-mapper", "shop.sub.routing.Split", "shop.sub.routing.Split"),
        ("checkpoint-algorithm", "toplevel.EveryTen", "toplevel.EveryTen"),
    }
    assert {c.language for c in result.components} == {"python"}
    assert {c.entry for c in result.components} == {str(app)}
    assert {c.kind for c in result.components} <= set(COMPONENT_KINDS)


def test_broken_and_crashing_modules_are_problems_and_the_scan_goes_on(shop):
    _, result = shop
    assert "ImportError: no database driver" in problem_about(result, "module shop.broken ")
    assert "exited with code 3" in problem_about(result, "module shop.exits ")
    assert "SIGSEGV" in problem_about(result, "module shop.segfault ")
    assert "SystemExit: bye" in problem_about(result, "module shop.quits ")
    assert len(result.problems) == 4, result.problems  # noisy output, setup, __main__: none


def test_the_bus_imports_no_application_code_and_writes_nothing_into_it(shop):
    app, _ = shop
    assert application_imported() == []
    assert list(app.rglob("__pycache__")) == []


def hanging_app(root: Path) -> tuple[Path, Path]:
    """Modules a_fast, b_hangs (after starting a grandchild process) and c_after."""
    pid_file = root / "grandchild.pid"
    app = write_tree(root / "slowapp", {
        "slow/__init__.py": "",
        "slow/a_fast.py": "from jsagent.api import Batchlet\nclass Fast(Batchlet): pass\n",
        "slow/b_hangs.py": f"""
            import pathlib, subprocess, sys, threading
            child = subprocess.Popen([sys.executable, "-c", "import threading; "
                                      "threading.Event().wait()"])
            pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))
            threading.Event().wait()
        """,
        "slow/c_after.py": "from jsagent.api import Batchlet\nclass After(Batchlet): pass\n",
    })
    return app, pid_file


def assert_gone(pid_file: Path) -> None:
    """The grandchild died with the scanner's process group (a zombie until init reaps it)."""
    try:
        process = psutil.Process(int(pid_file.read_text()))
        for _ in range(200):
            if process.status() == psutil.STATUS_ZOMBIE:
                return
            try:
                process.wait(timeout=0.05)
                return
            except psutil.TimeoutExpired:
                continue
    except psutil.NoSuchProcess:
        return
    pytest.fail(f"process {process.pid} outlived the scan")


def test_a_hanging_module_is_killed_and_the_scan_goes_on(tmp_path):
    app, pid_file = hanging_app(tmp_path)
    result = scan_entries([app], module_timeout=1, timeout=30)
    assert {c.class_name for c in result.components} == {"slow.a_fast.Fast", "slow.c_after.After"}
    assert "still importing after 1 s" in problem_about(result, "module slow.b_hangs ")
    assert_gone(pid_file)


def test_the_time_limit_stops_the_scan_and_keeps_what_was_found(tmp_path):
    app, pid_file = hanging_app(tmp_path)
    result = scan_entries([app], module_timeout=60, timeout=2.5)
    assert {c.class_name for c in result.components} == {"slow.a_fast.Fast"}
    problem = problem_about(result, "module slow.b_hangs ")
    assert "time limit of 2.5 s ran out while importing it" in problem
    assert_gone(pid_file)


def test_a_real_wheel_is_scanned_without_installing_it(tmp_path):
    project = write_tree(tmp_path / "project", {
        "pyproject.toml": """
            [build-system]
            requires = ["setuptools>=61", "wheel"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "wheelapp"
            version = "1.0"
        """,
        "wheelapp/__init__.py": "",
        "wheelapp/jobs.py": """
            from jsagent.api import Batchlet, ItemReader, named

            @named("wheel-batchlet")
            class Export(Batchlet):
                pass

            class Rows(ItemReader):
                pass
        """,
        "wheelapp/io/__init__.py": "",
        "wheelapp/io/sink.py": "from jsagent.api import ItemWriter\nclass Sink(ItemWriter): pass\n",
    })
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(tmp_path / "dist"), str(project)],
                   check=True, capture_output=True, timeout=50)
    wheel = next((tmp_path / "dist").glob("wheelapp-1.0-*.whl"))
    result = scan_entries([wheel])
    assert found(result) == {("batchlet", "wheel-batchlet", "wheelapp.jobs.Export"),
                             ("item-reader", "wheelapp.jobs.Rows", "wheelapp.jobs.Rows"),
                             ("item-writer", "wheelapp.io.sink.Sink", "wheelapp.io.sink.Sink")}
    assert {c.entry for c in result.components} == {str(wheel)}
    assert result.problems == ()
    assert application_imported() == []


def test_a_zip_file_is_scanned(tmp_path):
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zapp/__init__.py", "")
        zipped.writestr("zapp/steps.py", "from jsagent.api import Batchlet, named\n"
                                         "@named('zipped')\nclass Zipped(Batchlet): pass\n")
        zipped.writestr("zapp/broken.py", "import no_such_module_anywhere\n")
    result = scan_entries([archive])
    assert found(result) == {("batchlet", "zipped", "zapp.steps.Zipped")}
    assert "ModuleNotFoundError" in problem_about(result, "module zapp.broken ")


def test_a_single_module_entry_is_that_module_alone(tmp_path):
    loose = write_tree(tmp_path / "loose", {
        "solo.py": "from jsagent.api import Decider\nclass Choose(Decider): pass\n",
        "sibling.py": "from jsagent.api import Batchlet\nclass Sibling(Batchlet): pass\n",
    })
    result = scan_entries([loose / "solo.py"])
    assert found(result) == {("decider", "solo.Choose", "solo.Choose")}
    assert [c.entry for c in result.components] == [str(loose / "solo.py")]
    assert application_imported() == []


def test_entries_of_other_kinds_are_skipped_and_missing_ones_reported(tmp_path):
    classes = write_tree(tmp_path / "classes", {"com/example/Job.class": "\xca\xfe"})
    (tmp_path / "lib.jar").write_bytes(b"PK\x05\x06" + bytes(18))
    (tmp_path / "fake.zip").write_text("not a zip")
    result = scan_entries([classes, tmp_path / "lib.jar", tmp_path / "fake.zip",
                           tmp_path / "gone.whl", tmp_path / "gone.py"])
    assert result.components == ()
    assert sorted(result.problems) == [f"entry {tmp_path / 'fake.zip'}: not a zip file",
                                       f"entry {tmp_path / 'gone.py'}: no such module file",
                                       f"entry {tmp_path / 'gone.whl'}: no such file"]


def test_a_module_shadowed_by_another_is_a_problem(tmp_path):
    first = write_tree(tmp_path / "first", {"dup.py": "from jsagent.api import Batchlet\n"
                                                      "class One(Batchlet): pass\n"})
    second = write_tree(tmp_path / "second", {"dup.py": "raise SystemExit('never imported')\n"})
    result = scan_entries([first, second])
    assert [c.entry for c in result.components] == [str(first)]
    assert "shadows it" in problem_about(result, f"module dup (in {second})")


def test_restarts_after_crashes_are_bounded(tmp_path):
    crashes = {f"c{i}.py": "import os\nos._exit(1)\n" for i in range(MAX_RESTARTS + 2)}
    last = "from jsagent.api import Batchlet\nclass Z(Batchlet): pass\n"
    app = write_tree(tmp_path / "crashy", {**crashes, "z.py": last})
    result = scan_entries([app])
    assert result.components == ()
    assert len(result.problems) == MAX_RESTARTS + 2
    assert result.problems[-1].startswith(f"the scan stopped after {MAX_RESTARTS} restarts")


def test_the_number_of_modules_is_bounded(tmp_path):
    app = write_tree(tmp_path / "many", {
        f"m{i}.py": f"from jsagent.api import Batchlet\nclass B{i}(Batchlet): pass\n"
        for i in range(5)})
    result = scan_entries([app], max_modules=2)
    assert {c.class_name for c in result.components} == {"m0.B0", "m1.B1"}
    assert problem_about(result, "stopped after 2 modules")


def test_scan_reports_instead_of_raising():
    result = scan(None, config=None)
    assert result.components == ()
    assert problem_about(result, "the python scanner failed: TypeError")


def test_the_plugin_host_offers_the_python_scanner():
    names = [scanner.name for scanner in PluginHost(load_bus_config(environ={})).scanners()]
    assert "python" in names
